"""One thin client per service: HTTP <-> plain dicts, no business rules.

Every client checks the first answer it gets: a service address that answers, but not as that
service's API would (a 404, an HTML page, JSON of another shape), is a configuration error
naming the address's key (exit 78), not a crash or a list of failed items. After that every
answer is checked against the shape the jobs rely on (common/clients/shapes.py): bad data from
a proven service stops the run with one line naming the service, the request and the fault (69).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, SyncError
from . import shapes
from .shapes import Record as Record
from .shapes import Shape

if TYPE_CHECKING:
    from ..http import Params, ServiceSession

# statuses the check reads itself; 401/403 (auth), 402/429 (rate) and 5xx keep their own meaning
_CHECKED = tuple(s for s in range(200, 500) if s not in (401, 402, 403, 429))


class NotTheApi(ConfigError):
    """KIMAI_URL (or another service address) answers, but not as that service's API."""

    def __init__(self, key: str, product: str, what: str) -> None:
        SyncError.__init__(self, f"{key} does not point at a {product} API ({what})")
        self.key = key


class FirstAnswer:
    """Checks a client's answers until one passes: the first call a job makes (whatever it is)
    proves the address is the API before any other answer is trusted."""

    def __init__(self, http: ServiceSession, key: str, product: str) -> None:
        self.http, self.key, self.product = http, key, product
        self.proven = False

    def get_json(
        self, path: str, params: Params | None = None, shape: Shape | None = None, *, listed: bool = False
    ) -> Any:
        """GET `path` as JSON: one object of `shape`, or with `listed` a list of them (see
        common/clients/shapes.py; a value of the wrong type: BadAnswer, 69). While the address is
        not proven, a 404 or other 4xx, a body that is not JSON, or JSON that is not an object
        (a list) holding the shape's required fields raises NotTheApi (78)."""
        where = f"GET {self.http.path_of(path)}"
        if self.proven:
            body = self.http.get_json(path, params)
        else:
            response = self.http.request("GET", path, params=params, ok=_CHECKED)
            if response.status_code != 200:
                raise NotTheApi(self.key, self.product, f"{where} answered {response.status_code}")
            try:
                body = response.json()
            except (ValueError, RecursionError):
                html = "html" in response.headers.get("Content-Type", "") or response.text.lstrip()[:1] == "<"
                raise NotTheApi(
                    self.key,
                    self.product,
                    f"{where} answered 200 with {'an HTML page' if html else 'a body that is not JSON'}",
                ) from None
            if not _looks_like(body, shape or {}, listed):
                raise NotTheApi(self.key, self.product, f"{where} answered JSON of another shape")
        checked = shapes.many if listed else shapes.one
        result = checked(self.http, where, body, shape or {})
        self.proven = True
        return result


def _looks_like(body: Any, shape: Shape, listed: bool) -> bool:
    """The first answer's test: a list (its items are the data's business: a bad one is bad data,
    69), or an object holding the shape's required top fields."""
    if listed:
        return isinstance(body, list)
    required = [name.split(".")[0] for name, kind in shape.items() if not kind.endswith("?")]
    return isinstance(body, dict) and all(name in body for name in required)
