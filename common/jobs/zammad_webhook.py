"""Zammad trigger webhooks: `python sync.py webhook` answers each delivery at once (202) and syncs
the ticket it names in the background, through the same job, lock and duplicate rules as a cron
run. The payload is only a hint: the ticket is read again from Zammad.

POST / and POST /webhooks/zammad. X-Hub-Signature (sha1=HMAC-SHA1 of the body with
ZAMMAD_WEBHOOK_SECRET) must match, else 401; `sync.py webhook` refuses to start without the secret
unless given --insecure, and then warns on every start. A repeated X-Zammad-Delivery is acknowledged
and not processed twice. SIGTERM (or SIGINT) stops accepting, drains the queue and exits 0.

The port faces the network, so everything is bounded: a body needs a plain Content-Length (missing
or chunked 411, malformed or negative 400, past MAX_BODY 413) and is never read past it; each
connection carries one request and must send it whole within REQUEST_SECONDS; at most
MAX_CONNECTIONS are open (the oldest is dropped to make room, so a flood of slow or half-open
connections cannot lock a delivery out); a signed body that is not a ticket payload with a ticket
id in 1..2^63-1 gets 400. A client that goes away is forgotten without a word. The store is opened
before the port, so an unusable DATABASE_PATH stops the command with its exit code first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import TYPE_CHECKING, Any

from ..errors import LockHeld, SyncError
from ..store import Store, StoreError

if TYPE_CHECKING:
    from ..config import Settings
    from .base import Result

log = logging.getLogger("tracksync.webhook")

JOB = "zammad-kimai"
PATHS = ("/", "/webhooks/zammad")
MAX_BODY = 1_000_000
QUEUE_SIZE = 1000
LOCK_RETRY_SECONDS = 2.0
MAX_CONNECTIONS = 64  # open at once; a new one pushes out the oldest
REQUEST_SECONDS = 5.0  # a connection must have sent its whole request by then
BACKLOG = 1024  # connections the kernel holds until they are accepted
MAX_TICKET_ID = 2**63 - 1  # SQLite's integer
MAX_DELIVERY_ID = 200
DIGITS = re.compile(r"[0-9]+")
Address = tuple[str | bytes | bytearray, int] | tuple[str | bytes | bytearray, int, int, int]  # host, port[, IPv6 ...]
Answer = tuple[int, dict[str, Any]]  # (HTTP status, JSON body)
NOT_A_TICKET = 'expected a Zammad ticket payload: {"ticket": {"id": <1 .. 2^63-1>}}'


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha1="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, header[5:].strip())


def ticket_id_of(body: bytes) -> int | None:
    """The ticket id of a Zammad payload, or None when the body is not one (bad JSON, too deep,
    wrong types, a string, a float or an id outside 1..2^63-1)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError and over-long numbers are ValueErrors
        return None
    ticket = payload.get("ticket") if isinstance(payload, dict) else None
    ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
    if type(ticket_id) is not int or not 0 < ticket_id <= MAX_TICKET_ID:
        return None
    return ticket_id


def body_length(headers: Message) -> int | Answer:
    """The announced body length, or the answer that refuses it."""
    if headers.get("Transfer-Encoding") is not None:
        return 411, {"error": "Content-Length required (Transfer-Encoding is not accepted)"}
    values = headers.get_all("Content-Length") or []
    if not values:
        return 411, {"error": "Content-Length required"}
    value = values[0].strip()
    if len(set(values)) > 1 or not DIGITS.fullmatch(value):
        return 400, {"error": "Content-Length must be one non-negative whole number"}
    if len(value) > len(str(MAX_BODY)) or int(value) > MAX_BODY:
        return 413, {"error": f"body larger than {MAX_BODY} bytes"}
    return int(value)


class Connections:
    """The open connections and their deadlines: the oldest is dropped when a new one would pass
    the limit, and expire() drops those past their deadline (their handler then reads EOF)."""

    def __init__(self, limit: int = MAX_CONNECTIONS, seconds: float = REQUEST_SECONDS) -> None:
        self.limit, self.seconds = limit, seconds
        self._open: dict[socket.socket, float] = {}  # socket -> deadline (monotonic)
        self._lock = threading.Lock()

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            while len(self._open) >= self.limit:
                self._drop(min(self._open, key=self._open.__getitem__))
            self._open[sock] = time.monotonic() + self.seconds

    def remove(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.pop(sock, None)

    def expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            for sock in [sock for sock, deadline in self._open.items() if deadline < now]:
                self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        del self._open[sock]
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already gone
            pass


class BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep backlog, a limit on open connections and a deadline
    per connection; a client that goes away is logged at debug level only."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.connections = Connections()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.remove(request)
        super().shutdown_request(request)

    def service_actions(self) -> None:  # called by serve_forever at least every poll interval
        self.connections.expire()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # reset, broken pipe, timeout: the client went away
            log.debug("webhook client %s went away: %s", client_address[0], exc)
        else:
            log.error("webhook request from %s failed: %s", client_address[0], exc)
            log.debug("webhook request failure", exc_info=True)


class WebhookServer:
    def __init__(self, settings: Settings, host: str, port: int, sync_tickets: Callable[[list[int]], Result]) -> None:
        """sync_tickets(ticket_ids) runs the job for those tickets (raises LockHeld while a
        cron run holds the lock). Opens the store first: an unusable one raises before listening."""
        self.settings, self.sync_tickets = settings, sync_tickets
        self._open_store().close()
        self.queue: queue.Queue[int] = queue.Queue(maxsize=QUEUE_SIZE)  # ticket ids
        self.stopping = threading.Event()
        self.httpd = BoundedServer((host, port), self._handler())
        self.worker = threading.Thread(target=self._work, name="webhook-worker")

    @property
    def address(self) -> Address:
        return self.httpd.server_address

    def _open_store(self) -> Store:
        path = self.settings.database_path
        try:
            return Store(path)
        except SyncError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"DATABASE_PATH {path} cannot be used as the store: {exc}") from None

    def serve(self) -> int:
        """Serve until SIGTERM/SIGINT, then drain the queue. Returns the exit code (0)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: threading.Thread(target=self.httpd.shutdown).start())
        self.worker.start()
        if not self.settings.zammad_webhook_secret:  # started with --insecure: say so on every start
            log.warning(
                "warning: ZAMMAD_WEBHOOK_SECRET is not set (--insecure): deliveries are not checked, "
                "anyone who reaches this port can trigger syncs"
            )
        log.warning("listening for Zammad webhooks on http://%s:%s/", *self.address[:2])
        self.httpd.serve_forever(poll_interval=0.2)
        self.httpd.server_close()
        self.stopping.set()
        self.worker.join()
        log.warning("stopped; the queue is drained")
        return 0

    # -- background work ---------------------------------------------------------------------
    def _work(self) -> None:
        while not (self.stopping.is_set() and self.queue.empty()):
            try:
                first = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            tickets = {first}
            while True:  # coalesce what has queued up meanwhile into one run
                try:
                    tickets.add(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._sync(sorted(tickets))

    def _sync(self, tickets: list[int]) -> None:
        while True:
            try:
                result = self.sync_tickets(tickets)
            except LockHeld:
                time.sleep(LOCK_RETRY_SECONDS)  # a cron run is going: try again when it is done
                continue
            except SyncError as exc:
                log.error("webhook sync of tickets %s failed: %s", tickets, exc)
                return
            except Exception:  # keep serving; the traceback goes to the log file
                log.exception("webhook sync of tickets %s crashed", tickets)
                return
            log.info("webhook sync of tickets %s: exit %s", tickets, result.exit_code)
            return

    # -- HTTP ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = REQUEST_SECONDS  # per read; Connections bounds the whole request

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("webhook %s", fmt % args)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.close_connection = True  # one request per connection, within its deadline
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.split("?")[0] not in PATHS:
                    return self._answer(404, {"error": "not found"})
                self._answer(200, {"status": "ok", "queued": server.queue.qsize()})

            def do_POST(self) -> None:
                answer = server.receive(self.path.split("?")[0], self.headers, self.rfile)
                if answer is None:  # the client went away before its body was complete
                    self.close_connection = True
                    return
                self._answer(*answer)

        return Handler

    def receive(self, path: str, headers: Message, stream: BufferedIOBase) -> Answer | None:
        """Check one delivery and queue its ticket: (status, answer), or None when the body
        never arrived whole."""
        if path not in PATHS:
            return 404, {"error": "not found"}
        length = body_length(headers)
        if isinstance(length, tuple):
            return length
        try:
            body = stream.read(length)
        except OSError:  # reset or timed out
            return None
        if len(body) < length:
            return None
        secret = self.settings.zammad_webhook_secret
        if secret and not signature_ok(secret, body, headers.get("X-Hub-Signature")):
            log.warning("webhook delivery refused: missing or wrong X-Hub-Signature")
            return 401, {"error": "invalid signature"}
        ticket_id = ticket_id_of(body)
        delivery = headers.get("X-Zammad-Delivery")
        if ticket_id is None:
            return 400, {"error": NOT_A_TICKET}
        if delivery and len(delivery) > MAX_DELIVERY_ID:
            return 400, {"error": f"X-Zammad-Delivery longer than {MAX_DELIVERY_ID} characters"}
        if self.stopping.is_set() or self.queue.full():
            return 503, {"error": "busy; deliver again later"}
        if delivery:
            try:
                with self._open_store() as store:
                    first = store.first_delivery(delivery, JOB, str(ticket_id))
            except (SyncError, sqlite3.Error) as exc:
                log.error("webhook delivery %s not recorded: %s", ticket_id, exc)
                return 503, {"error": "store unavailable; deliver again later"}
            if not first:
                return 200, {"status": "duplicate", "ticket": ticket_id}
        try:
            self.queue.put_nowait(ticket_id)
        except queue.Full:
            return 503, {"error": "busy; deliver again later"}
        return 202, {"status": "accepted", "ticket": ticket_id}
