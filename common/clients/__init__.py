"""One thin client per service: HTTP <-> plain dicts, no business rules."""
