"""The answer to a page write (create or update) that is not what Confluence's API promises: an
HTML page, an empty or truncated body, JSON that is not a page. The client reads those answers
with a bare ``.json()``, so a careless or hostile server turned them into a traceback (exit 1) or
a per-page failure the run went on after. Here they become BadAnswer (69, naming Confluence and
the request): the run stops, nothing more is written; the write may have been made, so the next
run looks for the page (jira-confluence: its marker; confluence-tree --remove: its marker line)
before creating anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..clients.confluence import ConfluenceClient, PageConflict, TitleTaken
from ..errors import ApiError
from ..http import BadAnswer

T = TypeVar("T")


def page_write(
    confluence: ConfluenceClient, method: str, page_id: str | None, call: Callable[..., T], *args: Any, **kw: Any
) -> T:
    """`call(*args, **kw)` (a create_page or update_page of `confluence`), its unreadable answer a
    BadAnswer."""
    if confluence.cloud:
        path = "api/v2/pages" + (f"/{page_id}" if page_id else "")
    else:
        path = "rest/api/content" + (f"/{page_id}" if page_id else "")
    where = f"{method} {confluence.http.path_of(path)}"
    try:
        return call(*args, **kw)
    except (ValueError, RecursionError):
        raise BadAnswer(
            f"{where}: the answer is not JSON; the write may have been made", service="confluence"
        ) from None
    except (TitleTaken, PageConflict):
        raise
    except ApiError as exc:
        if exc.status is not None:  # a refusal the caller handles
            raise
        text = exc.args[0] if exc.args else "the answer has an unexpected shape"
        raise BadAnswer(f"{where}: {text}; the write may have been made", service="confluence") from None
