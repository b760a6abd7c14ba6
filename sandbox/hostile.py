"""Hostile behaviour of the stand-ins (switched on in sandbox/faults.py, served by
sandbox/server.py): answers that replace the service's, changes to the service's answer, and
the byte streams of a trickled or oversized answer."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from sandbox.faults import HOSTILE_ANSWERS

if TYPE_CHECKING:
    from sandbox.faults import FaultPlan
    from sandbox.server import Request, Response

PAGING_HEADERS = ("link", "x-total-count", "x-total-pages", "x-page", "x-per-page", "x-next-page")
CREDENTIAL_HEADERS = ("authorization", "x-auth-token", "private-token", "x-api-key", "token")
NEXT_LINK = re.compile(r'<([^>]*)>(\s*;\s*rel="?next"?)')
HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head>"
    "<body><h1>Please sign in</h1><form action='/login'></form></body></html>"
)


def replaces_answer(plan: FaultPlan) -> bool:
    """Whether a hostile answer is given instead of the service's (which never sees the request)."""
    return any(name in HOSTILE_ANSWERS for name in plan.hostile)


def answer(plan: FaultPlan, request: Request) -> Response:
    """The hostile answer given instead of the service's."""
    from sandbox.server import Response

    if "echo_credentials" in plan.hostile:
        status = plan.settings.echo_status if plan.settings else 400
        return Response(status, {"message": echoed_credentials(request.headers), "code": status})
    if "empty_200" in plan.hostile:
        return Response(200, text="", text_type="application/json")
    if "null_200" in plan.hostile:
        return Response(200, text="null", text_type="application/json")
    return Response(200, text=HTML_PAGE)


def echoed_credentials(headers: Any) -> str:
    """An error text quoting every credential header of the request in every form a careless
    server might: as sent, lower-cased, URL-encoded, base64-encoded, and a Basic header decoded
    (user:password) and re-encoded."""
    parts = []
    for name, value in headers.items() if headers is not None else []:
        if name.lower() not in CREDENTIAL_HEADERS:
            continue
        forms = [value, value.lower(), quote(value, safe=""), base64.b64encode(value.encode()).decode()]
        scheme, _, secret = value.partition(" ")
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(secret).decode()
            except ValueError:
                pair = ""
            forms += [pair, pair.lower(), quote(pair, safe="")]
        elif secret:
            bare = secret.split("=", 1)[-1]  # Zammad: Token token=<token>
            forms += [base64.b64encode(f"admin:{bare}".encode()).decode(), quote(bare, safe="").lower()]
        parts.append(f"invalid credentials {name}: " + " | ".join(forms))
    return "; ".join(parts) or "invalid credentials (none sent)"


def before_service(plan: FaultPlan, request: Request) -> None:
    """repeat_page: the service never sees the page parameter, so every page is the first."""
    if "repeat_page" in plan.hostile:
        request.query.pop("page", None)


def after_service(plan: FaultPlan, response: Response, request_url: str) -> Response:
    """The service's answer, changed as the plan's hostile behaviours say."""
    from sandbox.server import JSON_TYPE, Response

    hostile = plan.hostile
    if "no_paging_headers" in hostile:
        response.headers = {k: v for k, v in response.headers.items() if k.lower() not in PAGING_HEADERS}
    if "loop_next" in hostile or "foreign_next" in hostile:
        origin = plan.settings.foreign_origin if plan.settings else None

        def relink(url: str) -> str:
            if "loop_next" in hostile:
                return request_url
            parts, foreign = urlsplit(url), urlsplit(origin or _localhost(request_url))
            return urlunsplit((foreign.scheme, foreign.netloc, parts.path, parts.query, parts.fragment))

        response.headers = {
            k: NEXT_LINK.sub(lambda m: f"<{relink(m.group(1))}>{m.group(2)}", v) if k.lower() == "link" else v
            for k, v in response.headers.items()
        }
        links = response.body.get("links") if isinstance(response.body, dict) else None
        if isinstance(links, dict) and links.get("next"):
            links["next"] = relink(links["next"])
    if "malformed_json" in hostile and response.text is None and response.body is not None:
        payload = json.dumps(response.body, separators=(",", ":"))
        return Response(
            response.status, headers=response.headers, text=payload[: len(payload) // 2], text_type=JSON_TYPE
        )
    return response


def _localhost(url: str) -> str:
    """The same server under another host name: another origin to a client."""
    parts = urlsplit(url)
    return f"{parts.scheme}://localhost:{parts.port}"
