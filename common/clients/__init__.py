"""One thin client per service: HTTP <-> plain dicts, no business rules.

Every client checks the first answer it gets: a service address that answers, but not as that
service's API would (a 404, an HTML page, JSON of another shape), is a configuration error
naming the address's key (exit 78), not a crash or a list of failed items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import ConfigError, SyncError

if TYPE_CHECKING:
    from ..http import Params, ServiceSession

Record = dict[str, Any]  # one JSON object of a service's answer
Shape = Callable[[Any], bool]  # a test of an answer's shape

# statuses the check reads itself; 401/403 (auth), 402/429 (rate) and 5xx keep their own meaning
_CHECKED = tuple(s for s in range(200, 500) if s not in (401, 402, 403, 429))


class NotTheApi(ConfigError):
    """KIMAI_URL (or another service address) answers, but not as that service's API."""

    def __init__(self, key: str, product: str, what: str) -> None:
        SyncError.__init__(self, f"{key} does not point at a {product} API ({what})")
        self.key = key


def is_record(*fields: str) -> Shape:
    """A shape test: a JSON object holding every one of `fields`."""
    return lambda body: isinstance(body, dict) and all(f in body for f in fields)


def is_list(body: Any) -> bool:
    return isinstance(body, list)


class FirstAnswer:
    """Checks a client's answers until one passes: the first call a job makes (whatever it is)
    proves the address is the API before any other answer is trusted."""

    def __init__(self, http: ServiceSession, key: str, product: str) -> None:
        self.http, self.key, self.product = http, key, product
        self.proven = False

    def get_json(self, path: str, params: Params | None = None, shape: Shape | None = None) -> Any:
        """GET `path` as JSON; while the address is not proven, a 404 or other 4xx, a body that is
        not JSON or one that fails `shape` raises NotTheApi."""
        if self.proven:
            return self.http.get_json(path, params)
        response = self.http.request("GET", path, params=params, ok=_CHECKED)
        where = f"GET {urlsplit(self.http.url(path)).path}"
        if response.status_code != 200:
            raise NotTheApi(self.key, self.product, f"{where} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            html = "html" in response.headers.get("Content-Type", "") or response.text.lstrip()[:1] == "<"
            raise NotTheApi(
                self.key,
                self.product,
                f"{where} answered 200 with {'an HTML page' if html else 'a body that is not JSON'}",
            ) from None
        if shape is not None and not shape(body):
            raise NotTheApi(self.key, self.product, f"{where} answered JSON of another shape")
        self.proven = True
        return body
