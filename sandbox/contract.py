"""API contracts: check sandbox traffic against the spec files in ``sandbox/contracts``.

``validate_request`` and ``validate_response`` return human-readable violation messages (an
empty list means "fits the contract"). Specs are read from ``$TRACKSYNC_SPECS`` or from
``sandbox/contracts`` (shipped with the repository, sources in its README); ``SPEC_FILES`` maps
each service to its OpenAPI 3.0 file. ``load(services)`` reads them all up front and raises
``ContractError`` (one line naming the service and the file) when one is missing or unreadable,
so a strict sandbox refuses to start instead of failing inside every request.

The specs are normalised once when loaded, so that they say what their authors meant:

* ``{"$ref": X, "nullable": true}`` becomes "X or null" (OAS 3.0 ignores siblings of ``$ref``);
* ``oneOf`` becomes ``anyOf`` (the Kimai spec's alternatives overlap: an empty timesheet list
  fits both list shapes and a validation error body also fits the plain ``Error`` schema);
* Zammad only: ``TimeAccounting.type_id`` may be null (``_fix_zammad``);
* Toggl only: see ``_fix_toggl`` (optional query parameters marked required, ``null`` for no
  running entry, the real Reports v3 row array and its conditional paging headers);
* Gitea only: Go pointers and nil slices serialise as ``null`` although the generated spec never
  says ``nullable``; so object-typed ``$ref`` properties, arrays and the pointer times listed in
  ``GO_POINTER_TIMES`` may be null (``"pull_request": null`` on every plain issue).

* Jira only: see ``_fix_jira`` (Atlassian's own ``serverInfo`` example does not fit its schema:
  ``defaultLocale`` and ``+0000`` times; the remote-link list is an array);
* Confluence only: ``Link`` paging headers are sent only when there is a next page
  (``_fix_confluence``); the service has two documents, v2 and v1 (``MultiContract``).

Jira and Confluence requests are mapped first (``atlassian_path``): Data Center's Jira REST v2 is
checked as Cloud's v3, Data Center's Confluence ``/rest/api`` as Cloud v1 under ``/wiki``; the
few endpoints the copied subsets lack (``UNCONTRACTED``) are served but not checked.

Request checks are stricter than the schemas: unknown query parameters and unknown top-level
body fields are violations too (they are client drift even where a server would ignore them).
PATCH bodies are partial updates, so the body schema's top-level ``required`` list is not applied
to them (the Kimai spec shares one schema between POST and PATCH).
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_FILES = {
    "gitea": "gitea/openapi3.subset.json",
    "kimai": "kimai/openapi.derived.json",
    "toggl": "toggl/toggl-track-v9.openapi3.subset.json",
    "harvest": "harvest/harvest-v2.subset.openapi3.json",
    "zammad": "zammad/openapi.handmade.json",
    "graph": "msgraph/graph-v1.0-calendar-users.derived.json",
    "jira": "jira/jira-cloud-platform-v3.subset.json",
    "confluence": "confluence/confluence-cloud-v2.subset.json",
}
# documents served on the same port as the service's main one (Graph's stand-in also answers the
# identity platform's token endpoint): their paths are merged in at the root, the main document's
# paths keep its server path (/v1.0) in front
EXTRA_SPEC_FILES = {"graph": ("msgraph/identity-token-client-credentials.handmade.json",)}
# Services with more than one document: checked against SPEC_FILES' first, then these (MultiContract)
MORE_SPEC_FILES = {"confluence": ("confluence/confluence-cloud-v1.subset.json",)}
GO_POINTER_TIMES = {
    ("Issue", "closed_at"),
    ("Issue", "due_date"),
    ("PullRequestMeta", "merged_at"),
    ("Milestone", "closed_at"),
    ("Milestone", "due_on"),
}
MAX_ERRORS_PER_MESSAGE = 5
MAX_MESSAGE_CHARS = 300


CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"


class ContractError(Exception):
    """A service's contract file is missing, unreadable or not an OpenAPI document (one line)."""

    def __init__(self, service: str, problem: str) -> None:
        super().__init__(problem)
        self.service = service


def specs_dir() -> Path:
    configured = os.environ.get("TRACKSYNC_SPECS")
    return Path(configured) if configured else CONTRACTS_DIR


class Contract:
    """One service's OpenAPI document, ready to check requests and responses."""

    def __init__(self, service: str, document: dict[str, Any]) -> None:
        self.service = service
        self._uri = f"urn:tracksync-spec:{service}"
        doc = copy.deepcopy(document)
        fix = FIXES.get(service)
        if fix is not None:
            fix(doc)
        self.document = _normalise(doc, self._uri)
        self._registry = Registry().with_resource(self._uri, Resource.from_contents(self.document, DRAFT4))
        servers = self.document.get("servers") or [{"url": ""}]
        self._base = urlsplit(servers[0]["url"]).path.rstrip("/")
        # literal segments win over templated ones: /api/timesheets/recent before /api/timesheets/{id}
        self._paths = sorted(
            ((_template_regex(template), template) for template in self.document["paths"]),
            key=lambda entry: -sum(1 for part in entry[1].split("/") if part and "{" not in part),
        )
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        self._auth_query = {s["name"] for s in schemes.values() if s.get("type") == "apiKey" and s.get("in") == "query"}
        self._validators: dict[int, OAS30Validator] = {}
        self._partials: dict[int, dict] = {}
        self._validators_lock = threading.Lock()

    # -- public checks ---------------------------------------------------------------------
    def check_request(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> list[str]:
        where = f"{self.service} {method} {path}"
        found = self._operation(method, path)
        if isinstance(found, str):
            return [f"{where}: {found}"]
        operation, parameters, path_values = found
        problems: list[str] = []
        for name, value in path_values.items():
            param = parameters.get(("path", name))
            if param is not None:
                problems += self._check_param(param, [value])
        for name, values in query.items():
            param = parameters.get(("query", name))
            if param is None:
                if name not in self._auth_query:
                    problems.append(f"unknown query parameter {name!r}")
                continue
            problems += self._check_param(param, values)
        for (location, name), param in parameters.items():
            if location == "query" and param.get("required") and name not in query:
                problems.append(f"missing required query parameter {name!r}")
        problems += self._check_body(method, operation, body)
        return [f"{where}: {problem}" for problem in problems]

    def check_response(
        self, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> list[str]:
        where = f"{self.service} {method} {path} -> {status}"
        found = self._operation(method, path)
        if isinstance(found, str):
            return []  # the request check already reported it
        responses = found[0].get("responses", {})
        declared = responses.get(str(status)) or responses.get(f"{status // 100}XX") or responses.get("default")
        if declared is None:
            return [f"{where}: status not declared in the spec"] if 200 <= status < 300 else []
        declared = self._resolve(declared)
        problems: list[str] = []
        if 200 <= status < 300 and headers is not None:
            present = {name.lower() for name in headers}
            problems += [
                f"missing response header {name!r}"
                for name in declared.get("headers", {})
                if name.lower() not in present
            ]
        media = declared.get("content", {}).get("application/json")
        if media is not None and "schema" in media:
            if body is None:
                if self._schema_errors(media["schema"], None):  # a JSON null body arrives as None too
                    problems.append("expected a JSON body, got none")
            else:
                problems += self._schema_errors(media["schema"], body)
        elif status == 204 and body is not None:
            problems.append("204 must not have a body")
        return [f"{where}: {problem}" for problem in problems]

    # -- helpers ---------------------------------------------------------------------------
    def _operation(self, method: str, path: str) -> tuple[dict, dict, dict] | str:
        """(operation, {(in, name): parameter}, path values) or a message why none fits."""
        if not path.startswith(self._base + "/"):
            return f"path is outside the API base {self._base!r}"
        sub_path = path[len(self._base) :]
        for (regex, names), template in self._paths:
            match = regex.fullmatch(sub_path)
            if match is None:
                continue
            path_item = self.document["paths"][template]
            operation = path_item.get(method.lower())
            if operation is None:
                return f"method not in the spec for {template}"
            parameters = {}
            for param in path_item.get("parameters", []) + operation.get("parameters", []):
                param = self._resolve(param)
                parameters[(param["in"], param["name"])] = param
            return operation, parameters, dict(zip(names, match.groups(), strict=True))
        return "path not in the spec"

    def _check_param(self, param: dict, values: list[str]) -> list[str]:
        schema = param.get("schema", {})
        label = f"{param['in']} parameter {param['name']!r}"
        if schema.get("type") == "array":
            item_schema = schema.get("items", {})
            return [f"{label}: {problem}" for value in values for problem in self._value_errors(item_schema, value)]
        if len(values) > 1:
            return [f"{label}: given {len(values)} times"]
        return [f"{label}: {problem}" for problem in self._value_errors(schema, values[0])]

    def _value_errors(self, schema: dict, raw: str) -> list[str]:
        """Coerce a query/path string to the schema's type, then validate it."""
        schema = self._resolve(schema)
        kind = schema.get("type")
        value: Any = raw
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return [f"{raw!r} is not an integer"]
            value = int(raw)
        elif kind == "number":
            try:
                value = float(raw)
            except ValueError:
                return [f"{raw!r} is not a number"]
        elif kind == "boolean":
            if raw not in ("true", "false"):
                return [f"{raw!r} is not a boolean (true|false)"]
            value = raw == "true"
        return self._schema_errors(schema, value)

    def _check_body(self, method: str, operation: dict, body: Any) -> list[str]:
        request_body = operation.get("requestBody")
        if request_body is None:
            return [] if body is None else ["the operation takes no request body"]
        request_body = self._resolve(request_body)
        if body is None:
            return ["missing required request body"] if request_body.get("required") else []
        content = request_body.get("content", {})
        media = content.get("application/json") or content.get("application/x-www-form-urlencoded")
        if media is None or "schema" not in media:
            return []
        schema = self._resolve(media["schema"])
        if method == "PATCH" and "required" in schema:
            schema = self._partial(schema)
        problems = self._schema_errors(schema, body)
        if isinstance(body, dict) and "properties" in schema and "additionalProperties" not in schema:
            problems += [f"unknown body field {name!r}" for name in body if name not in schema["properties"]]
        return problems

    def _schema_errors(self, schema: dict, instance: Any) -> list[str]:
        validator = self._validator(schema)
        errors = sorted(validator.iter_errors(instance), key=lambda error: list(map(str, error.absolute_path)))
        messages = []
        for error in errors[:MAX_ERRORS_PER_MESSAGE]:
            detail = _deepest(error)
            location = "$" + "".join(
                f"[{step!r}]" if isinstance(step, int) else f".{step}" for step in detail.absolute_path
            )
            messages.append(f"{location}: {detail.message[:MAX_MESSAGE_CHARS]}")
        if len(errors) > MAX_ERRORS_PER_MESSAGE:
            messages.append(f"... and {len(errors) - MAX_ERRORS_PER_MESSAGE} more schema errors")
        return messages

    def _partial(self, schema: dict) -> dict:
        """The schema without its top-level ``required`` list (cached, so validators are reused)."""
        with self._validators_lock:
            return self._partials.setdefault(id(schema), {k: v for k, v in schema.items() if k != "required"})

    def _validator(self, schema: dict) -> OAS30Validator:
        key = id(schema)
        validator = self._validators.get(key)
        if validator is None:
            validator = OAS30Validator(schema, registry=self._registry, format_checker=oas30_format_checker)
            with self._validators_lock:
                self._validators[key] = validator
        return validator

    def _resolve(self, node: dict) -> dict:
        """Follow local ``$ref`` chains (already made absolute by ``_normalise``)."""
        while isinstance(node, dict) and "$ref" in node and len(node) == 1:
            uri, _, pointer = node["$ref"].partition("#")
            if uri != self._uri:
                break
            node = self.document
            for step in pointer.strip("/").split("/"):
                node = node[step.replace("~1", "/").replace("~0", "~")]
        return node


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf failures, the error of the alternative that got furthest into the instance."""
    candidates = [_deepest(sub) for sub in error.context or []]
    return max(candidates, key=lambda sub: len(sub.absolute_path), default=error)


def _template_regex(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names = tuple(re.findall(r"\{([^}]+)\}", template))
    pattern = re.escape(template)
    for name in names:
        pattern = pattern.replace(re.escape("{" + name + "}"), "([^/]+)")
    return re.compile(pattern), names


def _allow_go_nulls(doc: dict) -> None:
    """Mark what Go serialises as null (pointers, nil slices) nullable in Gitea's schemas."""
    schemas = doc.get("components", {}).get("schemas", {})
    for schema_name, schema in schemas.items():
        for prop_name, prop in schema.get("properties", {}).items():
            target = prop.get("$ref", "").rpartition("/")[2]
            if target and schemas.get(target, {}).get("type") == "object":
                prop["nullable"] = True  # turned into "X or null" by _normalise
            elif prop.get("type") == "array" or (schema_name, prop_name) in GO_POINTER_TIMES:
                prop["nullable"] = True


def _fix_toggl(doc: dict) -> None:
    """Say what the Toggl Track API really does where its generated (swaggo) spec does not.

    * query parameters marked ``required`` (GET /workspaces/{id}/projects: name, page, sort_field,
      ...) are optional in the real API;
    * GET /me/time_entries/current answers JSON ``null`` when nothing runs (recorded example);
    * Reports v3 detailed search answers a JSON array of rows, not a ``string``; its X-Next-ID /
      X-Next-Row-Number headers are only sent when there is a next page. The row shape follows
      what third-party clients read (toggl_python's SearchReportTimeEntriesResponse).
    """
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if param.get("in") == "query":
                    param.pop("required", None)
    current = doc["paths"]["/api/v9/me/time_entries/current"]["get"]["responses"]["200"]["content"]["application/json"]
    current["schema"] = {"anyOf": [current["schema"], {"enum": [None]}]}
    search = doc["paths"]["/reports/api/v3/workspace/{workspace_id}/search/time_entries"]["post"]["responses"]["200"]
    for header in ("X-Next-ID", "X-Next-Row-Number"):
        search.get("headers", {}).pop(header, None)
    nullable_int = {"type": "integer", "nullable": True}
    item = {
        "type": "object",
        "required": ["id", "seconds", "start", "stop", "at"],
        "properties": {
            "id": {"type": "integer"},
            "seconds": {"type": "integer"},
            "start": {"type": "string", "format": "date-time"},
            "stop": {"type": "string", "format": "date-time", "nullable": True},
            "at": {"type": "string", "format": "date-time"},
            "at_tz": {"type": "string", "format": "date-time"},
        },
    }
    row = {
        "type": "object",
        "required": [
            "user_id",
            "username",
            "project_id",
            "task_id",
            "billable",
            "description",
            "tag_ids",
            "time_entries",
            "row_number",
        ],
        "properties": {
            "user_id": {"type": "integer"},
            "username": {"type": "string"},
            "project_id": nullable_int,
            "task_id": nullable_int,
            "billable": {"type": "boolean"},
            "description": {"type": "string", "nullable": True},
            "tag_ids": {"type": "array", "items": {"type": "integer"}},
            "billable_amount_in_cents": nullable_int,
            "hourly_rate_in_cents": nullable_int,
            "currency": {"type": "string"},
            "row_number": {"type": "integer"},
            "time_entries": {"type": "array", "items": item},
        },
    }
    search["content"]["application/json"]["schema"] = {"type": "array", "items": row}


def _fix_zammad(doc: dict) -> None:
    """The hand-made Zammad spec infers ``TimeAccounting.type_id`` from documented examples that
    all have an activity type; the column is nullable and entries logged without a type (or
    before Zammad 6.1) carry ``"type_id": null``."""
    doc["components"]["schemas"]["TimeAccounting"]["properties"]["type_id"]["nullable"] = True


def _fix_graph(doc: dict) -> None:
    """Graph's next and delta links are opaque: they carry ``$skiptoken`` / ``$deltatoken`` and
    none of the first request's parameters (the documented delta example), so those two are
    declared and ``startDateTime`` / ``endDateTime`` are required only in spirit (the stand-in
    answers 400 when a first request lacks them). ``/users`` pages with ``$skiptoken`` too.
    Working hours' ``startTime``/``endTime`` lose the ``time`` format (see below)."""
    token = {"in": "query", "required": False, "schema": {"type": "string"}}
    for path, names in (
        ("/v1.0/users", ("$skiptoken",)),
        ("/v1.0/users/{user-id}/calendarView/delta", ("$skiptoken", "$deltatoken")),
    ):
        operation = doc["paths"][path]["get"]
        for param in operation.get("parameters", []):
            if param.get("in") == "query":
                param["required"] = False
        operation.setdefault("parameters", []).extend({"name": name, **token} for name in names)
    # Edm.TimeOfDay ("08:00:00.0000000", as Graph sends working hours) has no offset, which
    # OpenAPI's RFC 3339 'time' format demands; the pattern, kept, is what the CSDL means
    working_hours = doc["components"]["schemas"]["microsoft.graph.workingHours"]
    for part in working_hours.get("allOf", [working_hours]):
        for name in ("startTime", "endTime"):
            prop = part.get("properties", {}).get(name)
            if prop is not None:
                prop.pop("format", None)


def _merge_documents(service: str, main: dict[str, Any], extras: list[dict[str, Any]]) -> dict[str, Any]:
    """One document for a port that serves several APIs: the main document's paths under its
    server path, the extras' paths at the root, all components together."""
    base = urlsplit((main.get("servers") or [{"url": ""}])[0]["url"]).path.rstrip("/")
    merged = dict(main)
    merged["servers"] = [{"url": "/"}]
    merged["paths"] = {base + path: item for path, item in main["paths"].items()}
    components = {kind: dict(items) for kind, items in main.get("components", {}).items()}
    for extra in extras:
        merged["paths"].update(extra["paths"])
        for kind, items in extra.get("components", {}).items():
            for name, value in items.items():
                if name in components.get(kind, {}):
                    raise ContractError(service, f"component {kind}/{name} is defined twice")
                components.setdefault(kind, {})[name] = value
    merged["components"] = components
    return merged


def _fix_jira(doc: dict) -> None:
    """Say what Jira really answers where the v3 spec does not.

    * ``serverInfo``: Atlassian's own example does not fit the schema: it has ``defaultLocale``
      (not declared, and the schema forbids other properties) and its ``buildDate`` /
      ``serverTime`` are ``2020-03-26T22:20:59.000+0000`` (no colon in the offset), which the
      schema's ``date-time`` format refuses. Jira answers that shape, so the schema takes it;
    * ``GET /issue/{key}/remotelink`` answers an array of links (the spec's own example is one);
      only with ``globalId`` is it the single link the schema describes.
    """
    schemas = doc["components"]["schemas"]
    server_info = schemas["ServerInformation"]["properties"]
    server_info["defaultLocale"] = {"type": "object", "properties": {"locale": {"type": "string"}}}
    for name in ("buildDate", "serverTime"):
        server_info[name].pop("format", None)
    remote = doc["paths"]["/rest/api/3/issue/{issueIdOrKey}/remotelink"]["get"]["responses"]["200"]
    media = remote["content"]["application/json"]
    media["schema"] = {"anyOf": [media["schema"], {"type": "array", "items": media["schema"]}]}


def _fix_confluence(doc: dict) -> None:
    """Confluence Cloud v2 sends its ``Link`` paging header only when there is a next page (the
    spec declares it on every list answer)."""
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                for response in operation.get("responses", {}).values():
                    if isinstance(response, dict):
                        response.get("headers", {}).pop("Link", None)


def _normalise(node: Any, uri: str) -> Any:
    """Apply the module-level normalisations and make every local $ref absolute."""
    if isinstance(node, list):
        return [_normalise(item, uri) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _normalise(value, uri) for key, value in node.items()}
    if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
        node["$ref"] = uri + node["$ref"]
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if "$ref" in node and node.get("nullable") is True:
        return {"anyOf": [{"$ref": node["$ref"]}, {"enum": [None]}]}
    return node


# what each service's document needs before it can check the real answers
FIXES: dict[str, Callable[[dict], None]] = {
    "gitea": _allow_go_nulls,
    "toggl": _fix_toggl,
    "zammad": _fix_zammad,
    "graph": _fix_graph,
    "jira": _fix_jira,
    "confluence": _fix_confluence,
}


class MultiContract:
    """Several OpenAPI documents of one service (Confluence Cloud's v2 and v1): each request is
    checked against the first whose API base holds its path."""

    def __init__(self, contracts: list[Contract]) -> None:
        self.contracts = contracts

    def _pick(self, path: str) -> Contract:
        for contract in self.contracts:
            if contract._base and path.startswith(contract._base + "/"):
                return contract
        return next((contract for contract in self.contracts if not contract._base), self.contracts[-1])

    def check_request(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> list[str]:
        return self._pick(path).check_request(method, path, query, body)

    def check_response(
        self, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> list[str]:
        return self._pick(path).check_response(method, path, status, body, headers)


_contracts: dict[tuple[str, str], Contract | MultiContract | None] = {}
_contracts_lock = threading.Lock()


def get_contract(service: str) -> Contract | MultiContract | None:
    """The (cached) contract of a service, or None when no spec file is registered for it.

    Raises ``ContractError`` when the service's spec file cannot be read or used.
    """
    relative = SPEC_FILES.get(service)
    if relative and service in MORE_SPEC_FILES:
        paths = [specs_dir() / part for part in (relative, *MORE_SPEC_FILES[service])]
        key = (service, "|".join(map(str, paths)))
        with _contracts_lock:
            if key not in _contracts:
                _contracts[key] = MultiContract([_build(service, path) for path in paths])
            return _contracts[key]
    path = specs_dir() / relative if relative else None
    key = (service, str(path))
    with _contracts_lock:
        if key not in _contracts:
            _contracts[key] = _build(service, path) if path else None
        return _contracts[key]


def _build(service: str, path: Path) -> Contract:
    document = _read(service, path)
    extras = [_read(service, specs_dir() / extra) for extra in EXTRA_SPEC_FILES.get(service, ())]
    if extras:
        document = _merge_documents(service, document, extras)
    try:
        return Contract(service, document)
    except Exception as error:  # a document that parses but is not a usable OpenAPI 3.0 file
        raise ContractError(
            service, f"the contract file {path} cannot be used: {type(error).__name__}: {error}"
        ) from None


def load(services: list[str]) -> None:
    """Read and prepare the contracts of these services now (``ContractError`` on the first bad one)."""
    for service in services:
        get_contract(service)


def _read(service: str, path: Path) -> dict[str, Any]:
    where = f"the contract file {path}"
    hint = " (TRACKSYNC_SPECS is set)" if os.environ.get("TRACKSYNC_SPECS") else ""
    try:
        document = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ContractError(service, f"{where} does not exist{hint}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ContractError(
            service, f"{where} cannot be read: {getattr(error, 'strerror', None) or error}{hint}"
        ) from None
    except ValueError as error:
        raise ContractError(service, f"{where} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise ContractError(service, f"{where} is not an OpenAPI document (no 'paths')")
    return document


def validate_request(service: str, method: str, path: str, query: dict[str, list[str]], body: Any) -> list[str]:
    """Violations of one request: path, method, path/query parameters and JSON body."""
    contract = get_contract(service)
    if contract is None:
        return []
    mapped = atlassian_path(service, method, path, query or {})
    if mapped is None:
        return []
    path, query = mapped
    return contract.check_request(method, path, query, body)


def validate_response(
    service: str, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None
) -> list[str]:
    """Violations of one response: declared status, JSON body schema, declared 2xx headers."""
    contract = get_contract(service)
    if contract is None:
        return []
    mapped = atlassian_path(service, method, path, {})
    if mapped is None:
        return []
    return contract.check_response(method, mapped[0], status, body, headers)


# Atlassian endpoints the copied contracts do not hold (the subsets were cut to the first job's
# reads and writes); the stand-ins serve them and their traffic is not checked.
UNCONTRACTED = {
    "jira": [
        ("GET", re.compile(r"/rest/api/[23]/(project/[^/]+|user|field)")),
        ("DELETE", re.compile(r"/rest/api/[23]/issue/[^/]+")),
    ],
    "confluence": [
        ("DELETE", re.compile(r"/wiki/api/v2/pages/\d+")),
        ("*", re.compile(r"/wiki/api/v2/pages/\d+/(labels|properties)(/\d+)?")),
        ("GET", re.compile(r"/wiki/rest/api/(user|user/current|space/[^/]+)")),
        ("DELETE", re.compile(r"/wiki/rest/api/content/\d+")),
        ("*", re.compile(r"/wiki/rest/api/content/\d+/(label|property)(/[^/]+)?")),
    ],
}


def atlassian_path(
    service: str, method: str, path: str, query: dict[str, list[str]]
) -> tuple[str, dict[str, list[str]]] | None:
    """The path and query to check a Jira/Confluence request against, or None when the endpoint is
    outside the copied contracts (``UNCONTRACTED``). Other services: unchanged.

    * Jira Data Center's REST v2 (no published OpenAPI) is checked against Cloud's v3 at the same
      path (``/rest/api/2/x`` as ``/rest/api/3/x``): the shapes the job uses are the same, and
      the description field (ADF or wiki markup) is a free-form field in both;
    * Confluence Data Center's ``/rest/api`` is Cloud v1 without the ``/wiki`` context path; its
      search pages by ``start`` where Cloud pages by ``cursor`` (so ``start`` is not checked).
    """
    if service == "jira":
        path = re.sub(r"^(/[^/]+)*?/rest/api/2/", "/rest/api/3/", path)  # also under a context path
    elif service == "confluence":
        if not path.startswith("/wiki/"):
            path = "/wiki" + path[path.find("/rest/api/") :] if "/rest/api/" in path else "/wiki" + path
            if path == "/wiki/rest/api/content/search":
                query = {name: values for name, values in query.items() if name != "start"}
    else:
        return path, query
    for allowed_method, pattern in UNCONTRACTED.get(service, []):
        if allowed_method in ("*", method) and pattern.fullmatch(path):
            return None
    return path, query
