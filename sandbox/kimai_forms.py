"""Kimai's request rules: how a POST/PATCH body becomes field values or a 400 validation
error, and FOSRest's strict query parameter requirements.

Behaviour reproduced (Symfony forms as Kimai uses them):

* unknown fields -> global error "This form should not contain extra fields." (so a timesheet
  ``duration`` is refused);
* an omitted boolean becomes **false**, on POST and on PATCH alike (the trap the spec README warns
  about: ``PATCH {"name": "x"}`` hides an activity and makes it non-billable);
* other omitted fields become null on POST (or the entity default where Kimai cannot store
  null: ``NON_NULL_DEFAULTS``) and keep their value on PATCH;
* names: not blank, 2..150 characters, none of ``< > " =`` (Kimai >= 2.54).

The 400 body lists every form field under ``errors.children`` (``{}`` when it has no error) and
global errors under ``errors.errors`` (present only when there are some), as FOSRest renders it.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.server import Request, Response

TEXT, BOOL, INT, NUMBER, DURATION, ID_LIST, META = "text", "bool", "int", "number", "duration", "ids", "meta"

NOT_BLANK = "This value should not be blank."
NOT_VALID = "This value is not valid."
EXTRA_FIELDS = "This form should not contain extra fields."
HTML_CHARACTERS = "Found disallowed HTML characters."
NAME_MIN, NAME_MAX = 2, 150
FORBIDDEN_NAME_CHARACTERS = '<>"='

NON_NULL_DEFAULTS = {"budget": 0.0, "timeBudget": 0, "language": "en", "break": 0}

_BUDGET_FIELDS = {
    "color": TEXT,
    "budget": NUMBER,
    "timeBudget": DURATION,
    "budgetType": TEXT,
    "metaFields": META,
    "visible": BOOL,
    "billable": BOOL,
}

CUSTOMER_FORM = {
    "name": TEXT,
    "number": TEXT,
    "comment": TEXT,
    "company": TEXT,
    "vatId": TEXT,
    "contact": TEXT,
    "address": TEXT,
    "addressLine1": TEXT,
    "addressLine2": TEXT,
    "addressLine3": TEXT,
    "postCode": TEXT,
    "city": TEXT,
    "country": TEXT,
    "language": TEXT,
    "currency": TEXT,
    "phone": TEXT,
    "fax": TEXT,
    "mobile": TEXT,
    "email": TEXT,
    "homepage": TEXT,
    "timezone": TEXT,
    "invoiceText": TEXT,
    "invoiceTemplate": INT,
    "invoiceEmail": TEXT,
    "buyerReference": TEXT,
    "teams": ID_LIST,
    **_BUDGET_FIELDS,
}
PROJECT_FORM = {
    "name": TEXT,
    "number": TEXT,
    "comment": TEXT,
    "invoiceText": TEXT,
    "orderNumber": TEXT,
    "orderDate": TEXT,
    "start": TEXT,
    "end": TEXT,
    "customer": INT,
    "globalActivities": BOOL,
    "teams": ID_LIST,
    **_BUDGET_FIELDS,
}
ACTIVITY_FORM = {
    "name": TEXT,
    "number": TEXT,
    "comment": TEXT,
    "invoiceText": TEXT,
    "project": INT,
    "teams": ID_LIST,
    **_BUDGET_FIELDS,
}
TIMESHEET_FORM = {
    "begin": TEXT,
    "end": TEXT,
    "project": INT,
    "activity": INT,
    "description": TEXT,
    "tags": TEXT,
    "fixedRate": NUMBER,
    "hourlyRate": NUMBER,
    "user": INT,
    "exported": BOOL,
    "billable": BOOL,
    "break": DURATION,
}


class FormErrors:
    """Collected validation errors of one submission."""

    def __init__(self, form: dict[str, str]) -> None:
        self._form = form
        self.global_errors: list[str] = []
        self.field_errors: dict[str, list[str]] = {}

    def add(self, field: str | None, message: str) -> None:
        """Add an error at a field, or a global one (``field`` None or not a form field)."""
        if field in self._form:
            self.field_errors.setdefault(field, []).append(message)
        else:
            self.global_errors.append(message)

    def has(self, field: str) -> bool:
        return field in self.field_errors

    def __bool__(self) -> bool:
        return bool(self.global_errors or self.field_errors)

    def response(self) -> Response:
        errors: dict[str, Any] = {}
        if self.global_errors:
            errors["errors"] = list(self.global_errors)
        errors["children"] = {
            field: ({"errors": self.field_errors[field]} if field in self.field_errors else {}) for field in self._form
        }
        return Response(400, {"code": 400, "message": "Validation Failed", "errors": errors})


def submit(form: dict[str, str], body: Any, existing: dict[str, Any] | None) -> tuple[dict[str, Any], FormErrors]:
    """Values of every form field after submitting ``body`` (``existing`` None means POST)."""
    errors = FormErrors(form)
    body = body if isinstance(body, dict) else {}
    if any(name not in form for name in body):
        errors.add(None, EXTRA_FIELDS)
    values: dict[str, Any] = {}
    for field, kind in form.items():
        if field in body:
            try:
                values[field] = _parse(kind, body[field])
            except (TypeError, ValueError):
                errors.add(field, NOT_VALID)
                values[field] = existing.get(field) if existing else None
        elif kind == BOOL:
            values[field] = False
        elif kind in (ID_LIST, META):
            values[field] = list(existing.get(field, [])) if existing else []
        else:
            values[field] = existing.get(field) if existing else None
        if values[field] is None and field in NON_NULL_DEFAULTS:
            values[field] = NON_NULL_DEFAULTS[field]
    return values, errors


def check_name(errors: FormErrors, name: Any) -> None:
    """Kimai's rules for customer, project and activity names."""
    if name is None or not str(name).strip():
        errors.add("name", NOT_BLANK)
        return
    if len(name) < NAME_MIN:
        errors.add("name", f"This value is too short. It should have {NAME_MIN} characters or more.")
    if len(name) > NAME_MAX:
        errors.add("name", f"This value is too long. It should have {NAME_MAX} characters or less.")
    if any(character in name for character in FORBIDDEN_NAME_CHARACTERS):
        errors.add("name", HTML_CHARACTERS)


def parse_duration(value: Any) -> int:
    """Kimai's DurationType: seconds as an integer, or ``H:MM[:SS]`` / decimal hours as text."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    match = re.fullmatch(r"(\d+):([0-5]\d)(?::([0-5]\d))?", text)
    if match:
        return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + int(match.group(3) or 0)
    if re.fullmatch(r"\d+[.,]\d+", text):
        return int(round(float(text.replace(",", ".")) * 3600))
    raise ValueError("not a duration")


def _parse(kind: str, value: Any) -> Any:
    if value is None:
        if kind == BOOL:
            return False
        return [] if kind in (ID_LIST, META) else None
    if kind == BOOL:
        if not isinstance(value, bool):
            raise ValueError("not a boolean")
        return value
    if kind == TEXT:
        if isinstance(value, (dict, list, bool)):
            raise ValueError("not text")
        return str(value)
    if kind == INT:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise ValueError("not an id")
        return int(value)
    if kind == NUMBER:
        if isinstance(value, bool):
            raise ValueError("not a number")
        return float(value)
    if kind == DURATION:
        return parse_duration(value)
    if kind == ID_LIST:
        if not isinstance(value, list):
            raise ValueError("not a list")
        return [_parse(INT, item) for item in value]
    if not isinstance(value, list) or not all(isinstance(item, dict) and "name" in item for item in value):
        raise ValueError("not a list of meta fields")
    return []  # META: no custom meta fields are configured in the sandbox, Kimai ignores others


def query_values(request: Request, name: str) -> list[str]:
    """All values of ``name`` and ``name[]`` (PHP reads both as the same parameter)."""
    return request.query.get(name, []) + request.query.get(name + "[]", [])


def query_ok(request: Request, rules: dict[str, str]) -> bool:
    """FOSRest's strict parameter requirements: any value that does not fit means 400."""
    return all(re.fullmatch(pattern, value) for name, pattern in rules.items() for value in query_values(request, name))
