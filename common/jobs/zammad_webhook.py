"""Zammad trigger webhooks: `python sync.py webhook` answers each delivery at once (202) and syncs
the ticket it names in the background, through the same job, lock and duplicate rules as a cron
run. The payload is only a hint: the ticket is read again from Zammad.

POST / and POST /webhooks/zammad. X-Hub-Signature (sha1=HMAC-SHA1 of the body with
ZAMMAD_WEBHOOK_SECRET) must match, else 401; `sync.py webhook` refuses to start without the secret
unless given --insecure, and then warns on every start. A repeated X-Zammad-Delivery is acknowledged
and not processed twice. SIGTERM (or SIGINT) stops accepting, drains the queue and exits 0.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import TYPE_CHECKING, Any

from ..errors import LockHeld, SyncError
from ..store import Store

if TYPE_CHECKING:
    from ..config import Settings
    from .base import Result

log = logging.getLogger("tracksync.webhook")

JOB = "zammad-kimai"
PATHS = ("/", "/webhooks/zammad")
MAX_BODY = 1_000_000
QUEUE_SIZE = 1000
LOCK_RETRY_SECONDS = 2.0
Address = tuple[str | bytes | bytearray, int] | tuple[str | bytes | bytearray, int, int, int]  # host, port[, IPv6 ...]
Answer = tuple[int, dict[str, Any]]  # (HTTP status, JSON body)


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha1="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, header[5:].strip())


class WebhookServer:
    def __init__(self, settings: Settings, host: str, port: int, sync_tickets: Callable[[list[int]], Result]) -> None:
        """sync_tickets(ticket_ids) runs the job for those tickets (raises LockHeld while a
        cron run holds the lock)."""
        self.settings, self.sync_tickets = settings, sync_tickets
        self.queue: queue.Queue[int] = queue.Queue(maxsize=QUEUE_SIZE)  # ticket ids
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.worker = threading.Thread(target=self._work, name="webhook-worker")

    @property
    def address(self) -> Address:
        return self.httpd.server_address

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

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("webhook %s", fmt % args)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.split("?")[0] not in PATHS:
                    return self._answer(404, {"error": "not found"})
                self._answer(200, {"status": "ok", "queued": server.queue.qsize()})

            def do_POST(self) -> None:
                status, body = server.receive(self.path.split("?")[0], self.headers, self.rfile)
                if status == 503:
                    self.close_connection = True
                self._answer(status, body)

        return Handler

    def receive(self, path: str, headers: Message, stream: BufferedIOBase) -> Answer:
        """Check one delivery and queue its ticket: (status, answer)."""
        if path not in PATHS:
            return 404, {"error": "not found"}
        try:
            length = int(headers.get("Content-Length", ""))
        except ValueError:
            return 411, {"error": "Content-Length required"}
        if length > MAX_BODY:
            return 413, {"error": f"body larger than {MAX_BODY} bytes"}
        body = stream.read(length)
        secret = self.settings.zammad_webhook_secret
        if secret and not signature_ok(secret, body, headers.get("X-Hub-Signature")):
            log.warning("webhook delivery refused: missing or wrong X-Hub-Signature")
            return 401, {"error": "invalid signature"}
        try:
            ticket_id = int(json.loads(body)["ticket"]["id"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'expected a Zammad ticket payload: {"ticket": {"id": ...}}'}
        if self.stopping.is_set() or self.queue.full():
            return 503, {"error": "busy; deliver again later"}
        delivery = headers.get("X-Zammad-Delivery")
        if delivery:
            with Store(self.settings.database_path) as store:
                if not store.first_delivery(delivery, JOB, str(ticket_id)):
                    return 200, {"status": "duplicate", "ticket": ticket_id}
        self.queue.put(ticket_id)
        return 202, {"status": "accepted", "ticket": ticket_id}
