"""The Sandbox: starts one server per stand-in service and holds what they share
(fault configuration, request log, contract violations).

Services are registered in ``SERVICES``; adding one (zammad, toggl, harvest, ...) means writing
a ``Service`` subclass in its own module and listing it here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sandbox import contract
from sandbox.confluence import ConfluenceService
from sandbox.faults import Faults
from sandbox.gitea import GiteaService
from sandbox.graph import GraphService
from sandbox.harvest import HarvestService
from sandbox.jira import JiraService
from sandbox.jira_base import Credentials
from sandbox.kimai import KimaiService
from sandbox.recording import RequestLog, RequestRecord
from sandbox.server import Service, ServiceServer
from sandbox.toggl import TogglService
from sandbox.zammad import ZammadService

SERVICES: dict[str, Callable[..., Service]] = {
    "gitea": lambda **options: GiteaService(),
    "kimai": lambda **options: KimaiService(timezone=options["kimai_timezone"]),
    "toggl": lambda **options: TogglService(timezone=options["kimai_timezone"]),
    "harvest": lambda **options: HarvestService(timezone=options["kimai_timezone"]),
    "zammad": lambda **options: ZammadService(),
    "graph": lambda **options: GraphService(),
    "jira": lambda **options: JiraService(options["atlassian_credentials"], options["atlassian"]),
    "confluence": lambda **options: ConfluenceService(options["atlassian_credentials"], options["atlassian"]),
}


class Sandbox:
    """Local stand-ins for the real services, for end-to-end tests, benchmarks and the demo.

    ``strict=True`` checks every request and response against ``sandbox/contracts`` and records
    each mismatch in ``violations`` (the request is still served); a strict sandbox whose contract
    files cannot be read refuses to start (``contract.ContractError``). A stand-in that breaks
    while serving answers 500 and is listed in ``failures``. Each service's state object is an
    attribute named after it (``sb.gitea``, ``sb.kimai``).

    ``atlassian`` picks the deployment the Jira and Confluence stand-ins play: ``"cloud"``
    (default) or ``"datacenter"``; ``set_atlassian(...)`` switches both later (before use: the
    credentials in ``env()`` change with it).
    """

    def __init__(
        self,
        latency_ms: float = 0,
        strict: bool = True,
        ports: dict[str, int] | None = None,
        kimai_timezone: str = "Europe/Berlin",
        services: list[str] | None = None,
        atlassian: str = "cloud",
    ) -> None:
        self.strict = strict
        self.faults = Faults(latency_ms)
        self.log = RequestLog()
        self._ports = dict(ports or {})
        self._servers: dict[str, ServiceServer] = {}
        self.services: dict[str, Service] = {}
        self.atlassian_credentials = Credentials()
        for name in services or list(SERVICES):
            service = SERVICES[name](
                kimai_timezone=kimai_timezone, atlassian=atlassian, atlassian_credentials=self.atlassian_credentials
            )
            self.services[name] = service
            setattr(self, name, service)

    def set_atlassian(self, deployment: str) -> None:
        """Make the Jira and Confluence stand-ins play ``cloud`` or ``datacenter``."""
        for name in ("jira", "confluence"):
            service = self.services.get(name)
            if service is not None:
                service.set_deployment(deployment)  # type: ignore[attr-defined]

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Bind every service (free ports unless fixed in ``ports``) and serve from daemon threads.

        Starting a started sandbox does nothing; if a port cannot be bound, nothing stays running.
        Strict: every contract is read first (``contract.ContractError`` names a bad one).
        """
        if self._servers:
            return self
        if self.strict:
            contract.load(list(self.services))
        try:
            for name, service in self.services.items():
                server = ServiceServer(service, self, self._ports.get(name, 0))
                server.start()
                self._servers[name] = server
        except OSError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server (in parallel: each waits up to one poll interval)."""
        stoppers = [threading.Thread(target=server.stop) for server in self._servers.values()]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self._servers.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- addresses and credentials ---------------------------------------------------------
    def url(self, service: str) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT`` (Gitea's API is under /api/v1)."""
        return f"http://127.0.0.1:{self._servers[service].port}"

    @property
    def tokens(self) -> dict[str, str]:
        return {name: service.token for name, service in self.services.items()}

    def env(self, owner: str = "acme") -> dict[str, str]:
        """Environment for tracksync: GITEA_URL, GITEA_TOKEN, GITEA_ORGANIZATION, KIMAI_URL, ..."""
        variables: dict[str, str] = {}
        for name, service in self.services.items():
            variables.update(service.env(self.url(name), owner=owner))
        return variables

    # -- request log and violations --------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        return self.log.records()

    def clear_requests(self) -> None:
        self.log.clear_records()

    def count(self, service: str | None = None, method: str | None = None, writes: bool | None = None) -> int:
        """Number of logged API requests, optionally of one service, one method, writes or reads."""
        return sum(
            1
            for record in self.log.records()
            if (service is None or record.service == service)
            and (method is None or record.method == method.upper())
            and (writes is None or record.is_write == writes)
        )

    @property
    def violations(self) -> list[str]:
        return self.log.violations()

    @property
    def failures(self) -> list[str]:
        """Requests a stand-in failed to serve (a sandbox bug or a broken contract file)."""
        return self.log.failures()
