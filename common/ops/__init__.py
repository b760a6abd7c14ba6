"""Operations on the installation itself: backups and restores of the store (backup, restore),
the checks behind diagnose.py (diagnose_checks: configuration and store; service_checks: network
and APIs) and the read-only service probes of test_connection.py (connection)."""
