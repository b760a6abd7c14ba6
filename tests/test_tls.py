"""The one TLS expiry rule shared by test_connection.py and diagnose.py --network."""

from datetime import UTC, datetime, timedelta

from common.ops import connection, service_checks
from common.ops.tls import CERT_WARN_DAYS, TlsSession

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def session(days_left: float) -> TlsSession:
    return TlsSession("TLSv1.3", NOW + timedelta(days=days_left), 12.5)


def test_a_certificate_expiring_within_the_warning_days_is_a_warning():
    assert session(CERT_WARN_DAYS - 1).expiry_warning(NOW) == f"expires in {CERT_WARN_DAYS - 1} days"
    assert session(0.5).expiry_warning(NOW) == "expires in 0 days"
    assert session(-2).expiry_warning(NOW) == "expires in -2 days"


def test_a_certificate_with_enough_days_left_is_fine():
    assert session(CERT_WARN_DAYS).expiry_warning(NOW) is None
    assert session(365).expiry_warning(NOW) is None
    assert session(365).valid_until == f"TLSv1.3, certificate valid until {(NOW + timedelta(days=365)):%Y-%m-%d}"


def test_both_tools_judge_expiry_with_the_same_check(monkeypatch):
    soon = TlsSession("TLSv1.3", datetime.now(UTC) + timedelta(days=3, hours=1), 12.5)
    monkeypatch.setattr(connection, "tls_handshake", lambda host, port, timeout: soon)
    monkeypatch.setattr(service_checks, "tls_handshake", lambda host, port, timeout: soon)
    probe = connection.Probe("gitea", "https://git.example.com")
    status, detail, hint = connection._tls(probe, "https://git.example.com", 5)
    check = service_checks._tls_check("gitea", "git.example.com", 443, 5)
    assert (status, check.status) == ("WARN", "WARN")
    assert detail == f"{soon.valid_until}: expires in 3 days" and probe.tls == "TLSv1.3"
    assert check.detail == f"{soon.valid_until} (12.5 ms): expires in 3 days"
    assert hint == check.hint == "renew the certificate soon"
