"""HTTP machinery shared by every sandbox service.

A ``Service`` subclass declares its routes, its authentication and its error bodies; a
``ServiceServer`` serves it on one port with the cross-cutting behaviour every service gets:
fault injection, the request log, strict contract validation and the ``/_sandbox`` control
endpoints (which are outside authentication, faults and the log).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox import contract, hostile
from sandbox.faults import FaultPlan
from sandbox.recording import RequestRecord

if TYPE_CHECKING:
    from sandbox.hub import Sandbox

JSON_TYPE = "application/json; charset=utf-8"
CONTROL_PREFIX = "/_sandbox/"
MAX_REASON_CHARS = 300


@dataclass
class Request:
    """An API request after parsing: ``query`` maps names to all their values."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: Any
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter (as PHP and Go read repeated parameters)."""
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name) if self.headers is not None else None


@dataclass
class Response:
    """A JSON response (``body``), or a non-JSON one (``text``, e.g. a proxy error page)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    text_type: str = "text/html; charset=utf-8"
    drop: bool = False  # performed, then the connection is closed unanswered (a service's own commit-drop hook)

    def encode(self) -> tuple[bytes, str | None]:
        if self.text is not None:
            return self.text.encode("utf-8"), self.text_type
        if self.body is None:
            return b"", None
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), JSON_TYPE


Handler = Callable[[Request], Response]


class Service(ABC):
    """Base class of one stand-in service: routing plus the hooks subclasses fill in."""

    name = ""
    api_prefix = ""
    token = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.root_url = "http://127.0.0.1/"  # "http://127.0.0.1:PORT/" once the server is bound
        self._routes: list[tuple[str, re.Pattern[str], tuple[str, ...], Handler]] = []

    # -- routing ---------------------------------------------------------------------------
    def route(self, method: str, template: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and a path template below ``api_prefix``.

        ``{name}`` matches one path segment; ``{name:int}`` only digits.
        """
        names: list[str] = []
        regex = ""
        for index, part in enumerate(re.split(r"\{(\w+(?::int)?)\}", template)):
            if index % 2 == 0:
                regex += re.escape(part)
                continue
            name, _, kind = part.partition(":")
            names.append(name)
            regex += r"(\d+)" if kind == "int" else r"([^/]+)"
        self._routes.append((method, re.compile(regex), tuple(names), handler))

    def handle(self, request: Request) -> Response:
        """Authenticate, route and run the handler under the state lock."""
        if not request.path.startswith(self.api_prefix + "/"):
            return self.not_found(request)
        denied = self.authenticate(request)
        if denied is not None:
            return denied
        sub_path = request.path[len(self.api_prefix) :]
        path_matched = False
        for method, pattern, names, handler in self._routes:
            match = pattern.fullmatch(sub_path)
            if match is None:
                continue
            if method != request.method:
                path_matched = True
                continue
            request.params = {name: unquote(value) for name, value in zip(names, match.groups(), strict=True)}
            with self.lock:
                return handler(request)
        return self.method_not_allowed(request) if path_matched else self.not_found(request)

    # -- hooks for subclasses --------------------------------------------------------------
    @abstractmethod
    def authenticate(self, request: Request) -> Response | None:
        """Return an error response to refuse the request, or None to let it through."""
        ...

    @abstractmethod
    def not_found(self, request: Request) -> Response: ...

    def method_not_allowed(self, request: Request) -> Response:
        return Response(405, text="Method Not Allowed")

    @abstractmethod
    def bad_json(self, request: Request) -> Response:
        """The answer to a body that is not valid JSON."""
        ...

    def fault_response(self, status: int) -> Response:
        """The body of an injected 5xx: the service's own for 500, a proxy page for 502/503."""
        reason = {502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Internal Server Error")
        return Response(
            status,
            text=f"<html><head><title>{status} {reason}</title></head>"
            f"<body><center><h1>{status} {reason}</h1></center></body></html>",
        )

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """A JSON dump of the service's state (for GET /_sandbox/state)."""
        ...

    @abstractmethod
    def env(self, url: str, **options: Any) -> dict[str, str]:
        """The environment variables a tracksync client needs to reach this service."""
        ...


class ServiceServer(ThreadingHTTPServer):
    """Serves one Service on 127.0.0.1 from daemon threads; tracks connections to close them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, service: Service, sandbox: Sandbox, port: int = 0) -> None:
        self.service = service
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), RequestHandler)
        service.root_url = f"http://127.0.0.1:{self.server_address[1]}/"

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> None:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{self.service.name}", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop accepting, close the listening socket and every open keep-alive connection."""
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        """A client that vanished (killed, timed out) is normal here: no traceback on stderr."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    def shutdown_request(self, request) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)


class RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler: a control endpoint, or request check -> faults -> service ->
    response check -> log -> answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls
    server: ServiceServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header comes from the service's own clock (sandbox/clock.py), skew included."""
        clock = getattr(self.server.service, "clock", None)
        if timestamp is None and clock is not None:
            timestamp = clock.wall()
        return super().date_time_string(timestamp)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    # -- request flow ----------------------------------------------------------------------
    def _serve(self) -> None:
        url = urlsplit(self.path)
        raw_body = self._read_body()
        if raw_body is None:  # the client went away mid-request (killed): a real server drops it too
            self.close_connection = True
            return
        if url.path.startswith(CONTROL_PREFIX):
            self._send(control_response(self.server, self.command, url.path, url.query, raw_body))
            return
        service, sandbox = self.server.service, self.server.sandbox
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            body, body_is_json = _parse_form(raw_body), True  # a token endpoint's form, as a dict
        else:
            body, body_is_json = _parse_json(raw_body)
        request = Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True), self.headers, body)
        try:
            violations = self._check_request(request, raw_body, body_is_json) if sandbox.strict else []
        except Exception:  # noqa: BLE001 - a broken contract check is a sandbox failure, answered below
            self._answer_with_failure(request)
            return

        plan = sandbox.faults.plan(service.name, self.command, url.path)
        if plan.latency_s:
            time.sleep(plan.latency_s)
        if plan.action is not None:
            sandbox.log.add_violations(violations, service.name)
            self._answer_with_fault(request, plan)
            return
        if hostile.replaces_answer(plan):
            sandbox.log.add_violations(violations, service.name)
            response = hostile.answer(plan, request)
            self._record(request, response.status, ",".join(plan.hostile))
            self._send(response, plan)
            return
        hostile.before_service(plan, request)

        try:
            response = service.handle(request) if body_is_json else service.bad_json(request)
            if sandbox.strict:
                violations += contract.validate_response(
                    service.name, request.method, request.path, response.status, response.body, response.headers
                )
        except Exception:  # noqa: BLE001 - a sandbox bug must be loud, but must not kill the server
            sandbox.log.add_violations(violations, service.name)
            self._answer_with_failure(request)
            return
        sandbox.log.add_violations(violations, service.name)
        if plan.commit_drop or response.drop:
            self._record(request, None, "commit_drop")
            self._drop()
            return
        if plan.hostile:
            response = hostile.after_service(plan, response, self.server.service.root_url.rstrip("/") + self.path)
        self._record(request, response.status, ",".join(plan.hostile) or None)
        self._send(response, plan)

    def _answer_with_failure(self, request: Request) -> None:
        """The stand-in broke (the exception being handled): record it, answer 500 naming it."""
        name = self.server.service.name
        error = sys.exc_info()[1]
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:MAX_REASON_CHARS]
        self.server.sandbox.log.add_failure(
            name, f"{name} {request.method} {request.path}: sandbox error: {reason}", traceback.format_exc()
        )
        self._record(request, 500, "sandbox_failure")
        self._send(
            Response(
                500, text=f"sandbox failure in the {name} stand-in: {reason}\n", text_type="text/plain; charset=utf-8"
            )
        )

    def _answer_with_fault(self, request: Request, plan: FaultPlan) -> None:
        """Drop the connection, or answer 429 / 5xx, without the service seeing the request."""
        if plan.action == "drop":
            self._record(request, None, "drop")
            self._drop()
            return
        if plan.action == "429":
            response = Response(429, text="Too Many Requests", headers={"Retry-After": str(plan.retry_after)})
        else:
            response = self.server.service.fault_response(plan.status or 500)
        self._record(request, response.status, plan.action)
        self._send(response)

    def _check_request(self, request: Request, raw_body: bytes, body_is_json: bool) -> list[str]:
        name = self.server.service.name
        if not body_is_json:
            return [f"{name} {request.method} {request.path}: request body is not JSON: {raw_body[:80]!r}"]
        return contract.validate_request(name, request.method, request.path, request.query, request.body)

    def _read_body(self) -> bytes | None:
        """The request body, or None when the connection closed before all of it arrived."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        return body if len(body) == length else None

    def _record(self, request: Request, status: int | None, fault: str | None) -> None:
        """Log before answering, so a client that got its response always finds the record."""
        self.server.sandbox.log.add(
            RequestRecord(
                service=self.server.service.name,
                method=request.method,
                path=request.path,
                query=request.query,
                body=_masked(request.body),
                status=status,
                fault=fault,
                headers=dict(self.headers.items()),
                time=time.time(),
            )
        )

    def _drop(self) -> None:
        """Close the connection without sending a single byte."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: Response, plan: FaultPlan | None = None) -> None:
        payload, content_type = response.encode()
        if plan is not None and plan.settings is not None and "trickle" in plan.hostile:
            self._send_trickled(response, payload, content_type, plan.settings.trickle_ms / 1000)
            return
        padding = 0
        if plan is not None and plan.settings is not None and "oversized" in plan.hostile and payload:
            padding = int(plan.settings.oversized_mib * 2**20)
        self.send_response(response.status)
        if content_type and response.status != 204:
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(padding + len(payload) if response.status != 204 else 0))
        self.end_headers()
        if response.status == 204:
            return
        try:
            block = b" " * 2**20
            for start in range(0, padding, len(block)):  # valid JSON: whitespace, then the answer
                self.wfile.write(block[: padding - start])
            self.wfile.write(payload)
        except OSError:  # the client gave up on an oversized answer: what it should do
            self.close_connection = True

    def _send_trickled(self, response: Response, payload: bytes, content_type: str | None, step: float) -> None:
        """Status line, headers and body one byte every `step` seconds, until the client gives up."""
        lines = [f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}"]
        lines += [f"Date: {self.date_time_string()}", f"Content-Length: {len(payload)}"]
        lines += [f"Content-Type: {content_type}"] if content_type else []
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        self.close_connection = True
        try:
            for byte in ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload:
                self.wfile.write(bytes([byte]))
                time.sleep(step)
        except OSError:
            pass


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    """(parsed body or None, whether the body was empty or valid JSON)."""
    if not raw.strip():
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


def _masked(body: Any) -> Any:
    """The body as the request log keeps it: a client secret (token endpoint form) masked."""
    if isinstance(body, dict) and "client_secret" in body:
        return {**body, "client_secret": "***"}
    return body


def _parse_form(raw: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as {name: last value}."""
    return {
        name: values[-1] for name, values in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()
    }


def control_response(server: ServiceServer, method: str, path: str, query: str, raw_body: bytes) -> Response:
    """The /_sandbox control endpoints of one service port."""
    sandbox, service = server.sandbox, server.service
    action = path[len(CONTROL_PREFIX) :].strip("/")
    if method == "GET" and action == "state":
        with service.lock:
            return Response(200, service.state())
    if method == "GET" and action == "requests":
        everything = parse_qs(query).get("all", ["0"])[-1] in ("1", "true")
        return Response(
            200, [record.to_json() for record in sandbox.requests if everything or record.service == service.name]
        )
    if method == "GET" and action == "violations":
        return Response(200, sandbox.violations)
    if method == "GET" and action == "failures":
        return Response(200, sandbox.failures)
    if method == "POST" and action == "reset":
        sandbox.clear_requests()
        return Response(200, {"ok": True})
    if method == "POST" and action == "faults":
        body, ok = _parse_json(raw_body)
        if not ok or not isinstance(body or {}, dict):
            return Response(400, {"error": "body must be a JSON object of Faults.configure arguments"})
        try:
            settings = sandbox.faults.configure(**(body or {}))
        except (TypeError, ValueError) as error:
            return Response(400, {"error": str(error)})
        return Response(200, settings.to_json())
    hook = getattr(service, "control", None)  # a service's own test hooks (Graph, Jira, Confluence)
    if hook is not None:
        body, ok = _parse_json(raw_body)
        with service.lock:
            answer = hook(method, action, body if ok else None, parse_qs(query))
        if answer is not None:
            return answer
    return Response(404, {"error": f"unknown control endpoint {method} {path}"})
