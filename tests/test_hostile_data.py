"""Bad data from a server, as a class, in every client (common/clients/shapes.py): null, a list
where an object belongs and the reverse, a missing id, ids that are not integers or do not fit
SQLite's 64-bit integer, text where a number belongs, non-finite numbers, bodies that are not
JSON. Each is one BadAnswer (69) naming the service, the request and the fault, never a crash;
and the message never quotes the server's text (it may hold an echoed secret)."""

import pytest
import responses
from ops_helpers import example_settings

from common.clients.gitea import GiteaClient
from common.clients.harvest import HarvestClient
from common.clients.kimai import KimaiClient
from common.clients.toggl import TogglClient
from common.clients.zammad import ZammadClient
from common.errors import UNAVAILABLE
from common.http import BadAnswer, RequestCounter

SECRET = "Echoed/Secret+Value=77"


def good(kind):
    """A valid record of each kind the clients read."""
    return {
        "project": {"id": 3, "name": "Web", "customer": 1, "comment": None, "visible": True},
        "sheet": {"id": 4, "begin": "2026-11-02T08:00:00", "end": None, "user": 1, "project": 3, "activity": 2},
        "issue": {"id": 9, "number": 1, "title": "T", "state": "open", "updated_at": "2026-11-02T08:00:00Z"},
        "ticket": {"id": 5, "number": "31001", "title": "T", "updated_at": "2026-11-02T08:00:00Z"},
        "accounting": {
            "id": 6,
            "ticket_id": 5,
            "time_unit": "15.0",
            "type_id": None,
            "created_by_id": 3,
            "created_at": "2026-11-02T08:00:00Z",
        },
        "entry": {"id": 7, "start": "2026-11-02T08:00:00Z", "stop": None, "duration": 60, "at": "2026-11-02T09:00:00Z"},
        "harvest": {
            "id": 8,
            "spent_date": "2026-11-02",
            "hours": 1.5,
            "updated_at": "2026-11-02T09:00:00Z",
            "user": {"id": 2},
        },
    }[kind]


# (client, call, URL, a body wrapper for the items, kind of record)
CALLS = {
    "kimai projects": (
        KimaiClient,
        lambda c: c.list_projects(),
        "https://kimai.example.com/api/projects",
        None,
        "project",
    ),
    "kimai timesheets": (
        KimaiClient,
        lambda c: c.list_timesheets("2026-11-01T00:00:00", "2026-11-03T00:00:00"),
        "https://kimai.example.com/api/timesheets",
        None,
        "sheet",
    ),
    "gitea issues": (
        GiteaClient,
        lambda c: c.list_issues("acme", "web"),
        "https://gitea.example.com/api/v1/repos/acme/web/issues",
        None,
        "issue",
    ),
    "zammad search": (
        ZammadClient,
        lambda c: c.search_tickets("*"),
        "https://zammad.example.com/api/v1/tickets/search",
        None,
        "ticket",
    ),
    "zammad time": (
        ZammadClient,
        lambda c: c.time_accountings(5),
        "https://zammad.example.com/api/v1/tickets/5/time_accountings",
        None,
        "accounting",
    ),
    "toggl entries": (
        TogglClient,
        lambda c: c.time_entries("2026-11-01", "2026-11-03"),
        "https://toggl.example.com/api/v9/me/time_entries",
        None,
        "entry",
    ),
    "harvest entries": (
        HarvestClient,
        lambda c: [entry for page in c.time_entry_pages("2026-11-01", "2026-11-03") for entry in page],
        "https://harvest.example.com/v2/time_entries",
        "time_entries",
        "harvest",
    ),
}
PROVE = {  # the first answer that proves each address is the API
    TogglClient: ("https://toggl.example.com/api/v9/me", {"id": 1, "email": "a@b.c"}),
    HarvestClient: ("https://harvest.example.com/v2/users/me", {"id": 1, "email": "a@b.c"}),
}

# (name, change to a good record, what the error says)
FAULTS = [
    ("missing id", lambda r: {k: v for k, v in r.items() if k != "id"}, "item 1: id is missing"),
    ("null id", lambda r: {**r, "id": None}, "item 1: id is null, not an id"),
    ("id as text", lambda r: {**r, "id": SECRET}, "item 1: id is text of 22 characters, not an id"),
    ("id past 64 bits", lambda r: {**r, "id": 2**64}, "item 1: id is 18446744073709551616, not an id"),
    ("id as float", lambda r: {**r, "id": 1.5}, "item 1: id is 1.5, not an id"),
    ("id as true", lambda r: {**r, "id": True}, "item 1: id is true, not an id"),
    ("id negative", lambda r: {**r, "id": -4}, "item 1: id is -4, not an id"),
    ("a list for the record", lambda r: [r], "item 1: expected an object, got a list of 1"),
    ("null record", lambda r: None, "item 1: expected an object, got null"),
]


def prepare(name, body):
    client_class, call, url, wrapper, _ = CALLS[name]
    if client_class in PROVE:
        responses.get(PROVE[client_class][0], json=PROVE[client_class][1])
    responses.get(url, json={wrapper: body, "links": {"next": None}} if wrapper else body)
    client = client_class(example_settings(), RequestCounter())
    if client_class in PROVE:
        client.me()  # proven: what follows is data, not a question of the address (NotTheApi, 78)
    return client, call


@responses.activate
@pytest.mark.parametrize("name", list(CALLS))
def test_a_good_answer_passes(name):
    client, call = prepare(name, [good(CALLS[name][4])])
    result = call(client)
    items = result[0] if isinstance(result, tuple) else result
    assert items == [good(CALLS[name][4])]


@responses.activate
@pytest.mark.parametrize(("fault", "change", "said"), FAULTS, ids=[f[0] for f in FAULTS])
@pytest.mark.parametrize("name", list(CALLS))
def test_bad_data_is_one_named_error(name, fault, change, said):
    client, call = prepare(name, [change(good(CALLS[name][4]))])
    with pytest.raises(BadAnswer) as caught:
        call(client)
    text = str(caught.value)
    service = name.split()[0]
    assert text.startswith(f"{service}: GET /") and said in text, text
    assert SECRET not in text and caught.value.exit_code == UNAVAILABLE


@responses.activate
@pytest.mark.parametrize(
    ("name", "field", "value", "said"),
    [
        ("kimai projects", "customer", "1", "customer is text of 1 characters, not an id"),
        ("kimai timesheets", "project", {"id": 3}, "project is an object, not an id"),
        ("toggl entries", "duration", "3600", "duration is text of 4 characters, not a whole number"),
        ("harvest entries", "hours", "1.5", "hours is text of 3 characters, not a finite number"),
        ("harvest entries", "hours", float("inf"), "hours is inf, not a finite number"),
        ("harvest entries", "user", None, "user.id is missing"),
        ("zammad time", "time_unit", "a lot", "time_unit is text of 5 characters, not a number"),
        ("zammad search", "number", 31001, "number is 31001, not text"),
        ("gitea issues", "number", "1", "number is text of 1 characters, not an id"),
    ],
)
def test_text_where_a_number_belongs_and_the_reverse(name, field, value, said):
    client, call = prepare(name, [{**good(CALLS[name][4]), field: value}])
    with pytest.raises(BadAnswer, match=said):
        call(client)


@responses.activate
@pytest.mark.parametrize("name", list(CALLS))
def test_an_object_where_the_list_belongs(name):
    client, call = prepare(name, {"id": 1})
    with pytest.raises(BadAnswer, match="expected a list|the answer has an unexpected shape"):
        call(client)


@responses.activate
@pytest.mark.parametrize(
    ("body", "content_type", "said"),
    [
        ("<html><body>Sign in</body></html>", "text/html", "is an HTML page, not JSON"),
        ("", "application/json", "is empty, not JSON"),
        ('[{"id": 1, "name": "We', "application/json", "is truncated JSON"),
        ("[{]", "application/json", "is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "application/json", "JSON"),
    ],
)
def test_a_body_that_is_not_json_after_the_first_answer(body, content_type, said):
    responses.get("https://kimai.example.com/api/users/me", json={"id": 1, "username": "admin"})
    responses.get("https://kimai.example.com/api/customers", body=body, content_type=content_type)
    client = KimaiClient(example_settings(), RequestCounter())
    client.me()
    with pytest.raises(BadAnswer, match=f"kimai: GET /api/customers: .*{said}"):
        client.list_customers()


@responses.activate
def test_the_answer_to_a_write_is_checked_too():
    responses.post("https://kimai.example.com/api/timesheets", json={"id": "17"}, status=200)
    client = KimaiClient(example_settings(), RequestCounter())
    with pytest.raises(BadAnswer, match="kimai: POST /api/timesheets: id is text of 2 characters, not an id"):
        client.create_timesheet({"begin": "2026-11-02T08:00:00"})


@responses.activate
@pytest.mark.parametrize(
    ("name", "field", "value", "said"),
    [
        ("toggl entries", "start", "yesterday", "start is text of 9 characters, not a date and time"),
        ("kimai timesheets", "begin", "2026-13-45T99:00:00", "begin is text of 19 characters, not a date and time"),
        ("harvest entries", "spent_date", "02.11.2026", "spent_date is text of 10 characters, not a date"),
        ("zammad time", "created_at", 1730534400, "created_at is 1730534400, not a date and time"),
    ],
)
def test_times_that_are_not_times(name, field, value, said):
    client, call = prepare(name, [{**good(CALLS[name][4]), field: value}])
    with pytest.raises(BadAnswer, match=said):
        call(client)
