"""What report.py shows and writes: runs, items, errors and audit from the store (runs), the
store as CSV/JSON (store_export), Kimai timesheets of a window (timesheets), a person's data for
a GDPR request (gdpr) and the zammad-kimai reconciliation (reconcile). They only read services."""
