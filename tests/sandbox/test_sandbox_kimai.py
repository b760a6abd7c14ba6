"""The Kimai stand-in reproduces the real API's traps: visibility, booleans, names, dates."""

from __future__ import annotations

import pytest
import requests
from sandbox_testkit import allow_violations, kimai, kimai_project, sb  # noqa: F401 (pytest fixtures)

from sandbox import Sandbox


def test_missing_credentials_and_wrong_token_bodies(sb):
    base = sb.url("kimai") + "/api"
    missing = requests.get(base + "/ping")
    wrong = requests.get(base + "/ping", headers={"Authorization": "Bearer nope"})
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized", "code": 401})
    assert (wrong.status_code, wrong.json()) == (401, {"message": "Invalid credentials"})


def test_bearer_and_legacy_headers_authenticate(sb, kimai):
    assert kimai.get("/ping").json() == {"message": "pong"}
    legacy = requests.get(
        sb.url("kimai") + "/api/users/me", headers={"X-AUTH-USER": "admin", "X-AUTH-TOKEN": sb.tokens["kimai"]}
    )
    assert legacy.status_code == 200
    assert legacy.json()["username"] == "admin" and legacy.json()["timezone"] == "Europe/Berlin"


def test_hidden_activities_are_missing_unless_visible_3(sb, kimai, kimai_project):
    shown = sb.kimai.add_activity("Shown", kimai_project["id"])
    hidden = sb.kimai.add_activity("Hidden", kimai_project["id"], visible=False)
    names = lambda **params: sorted(a["name"] for a in kimai.get("/activities", params=params).json())  # noqa: E731
    assert names() == ["Shown"]
    assert names(visible=2) == ["Hidden"]
    assert names(visible=3) == ["Hidden", "Shown"]
    assert kimai.get(f"/activities/{hidden['id']}").json()["visible"] is False
    assert shown["parentTitle"] == "Website"


def test_activities_of_a_hidden_project_are_missing_by_default(sb, kimai, kimai_project):
    other = sb.kimai.add_project("Old", kimai_project["customer"], visible=False)
    sb.kimai.add_activity("Under hidden project", other["id"])
    assert kimai.get("/activities").json() == []
    assert len(kimai.get("/activities", params={"visible": 3}).json()) == 1


def test_project_filter_includes_global_activities(sb, kimai, kimai_project):
    sb.kimai.add_activity("Own", kimai_project["id"])
    sb.kimai.add_activity("Global", None)
    names = sorted(a["name"] for a in kimai.get("/activities", params={"project": kimai_project["id"]}).json())
    assert names == ["Global", "Own"]
    only_globals = kimai.get("/activities", params={"globals": "true"}).json()
    assert [a["name"] for a in only_globals] == ["Global"] and only_globals[0]["project"] is None


def test_omitted_booleans_become_false_on_post_and_patch(kimai, kimai_project):
    created = kimai.post("/activities", json={"name": "Issue 1", "project": kimai_project["id"]}).json()
    assert (created["visible"], created["billable"]) == (False, False)
    activity = kimai.post(
        "/activities", json={"name": "Issue 2", "project": kimai_project["id"], "visible": True, "billable": True}
    ).json()
    patched = kimai.patch(f"/activities/{activity['id']}", json={"name": "Issue 2 renamed"}).json()
    assert (patched["name"], patched["visible"], patched["billable"]) == ("Issue 2 renamed", False, False)
    assert patched["project"] == kimai_project["id"]  # non-boolean fields keep their value on PATCH


@pytest.mark.parametrize(
    "name, message",
    [
        ('Fix <b>bold</b> "quotes"', "Found disallowed HTML characters."),
        ("key=value", "Found disallowed HTML characters."),
        ("x" * 151, "This value is too long. It should have 150 characters or less."),
        ("x", "This value is too short. It should have 2 characters or more."),
        ("", "This value should not be blank."),
    ],
)
def test_names_are_validated(kimai, kimai_project, name, message, allow_violations):
    response = kimai.post("/activities", json={"name": name, "project": kimai_project["id"], "visible": True})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["message"]) == (400, "Validation Failed")
    assert body["errors"]["children"]["name"] == {"errors": [message]}
    assert body["errors"]["children"]["comment"] == {}


def test_a_150_character_name_is_fine(kimai, kimai_project):
    response = kimai.post("/activities", json={"name": "x" * 150, "project": kimai_project["id"]})
    assert response.status_code == 200


def test_projects_need_a_customer(kimai, allow_violations):
    response = kimai.post("/projects", json={"name": "Orphan", "visible": True})
    assert response.status_code == 400
    assert response.json()["errors"]["children"]["customer"] == {"errors": ["This value should not be blank."]}


def test_unknown_fields_are_refused(kimai, kimai_project, allow_violations):
    activity = kimai.post("/activities", json={"name": "Work", "project": kimai_project["id"], "visible": True}).json()
    response = kimai.post(
        "/timesheets",
        json={
            "project": kimai_project["id"],
            "activity": activity["id"],
            "begin": "2024-05-02T08:00:00",
            "duration": 3600,
        },
    )
    assert response.status_code == 400
    assert response.json()["errors"]["errors"] == ["This form should not contain extra fields."]


def test_projects_list_only_active_ones_unless_ignore_dates(sb, kimai, kimai_project):
    sb.kimai.add_project("Finished", kimai_project["customer"], start="2020-01-01", end="2020-12-31")
    sb.kimai.add_project("Future", kimai_project["customer"], start="2999-01-01")
    names = lambda **params: sorted(p["name"] for p in kimai.get("/projects", params=params).json())  # noqa: E731
    assert names() == ["Website"]
    assert names(ignoreDates=1) == ["Finished", "Future", "Website"]
    assert kimai.get("/projects").json()[0]["parentTitle"] == "ACME Corp"


def test_project_dates_are_date_only_on_post_and_datetime_on_patch(kimai, kimai_project):
    created = kimai.post(
        "/projects",
        json={"name": "Dated", "customer": kimai_project["customer"], "visible": True, "start": "2024-01-01"},
    )
    assert created.status_code == 200 and created.json()["start"] == "2024-01-01"
    project_id = created.json()["id"]
    refused = kimai.patch(f"/projects/{project_id}", json={"name": "Dated", "end": "2030-12-31"})
    assert refused.status_code == 400
    accepted = kimai.patch(f"/projects/{project_id}", json={"name": "Dated", "end": "2030-12-31T00:00:00"})
    assert accepted.json()["end"] == "2030-12-31"


def test_customer_post_needs_country_currency_timezone(kimai, allow_violations):
    refused = kimai.post("/customers", json={"name": "Someone"})
    assert refused.status_code == 400
    children = refused.json()["errors"]["children"]
    for field in ("country", "currency", "timezone"):
        assert children[field] == {"errors": ["This value should not be blank."]}
    created = kimai.post(
        "/customers",
        json={"name": "Someone", "country": "AT", "currency": "EUR", "timezone": "Europe/Vienna", "visible": True},
    )
    assert created.status_code == 200 and created.json()["billable"] is False


def test_invalid_query_value_is_400_and_unknown_id_404(kimai, allow_violations):
    assert kimai.get("/activities", params={"visible": 5}).json() == {"code": 400, "message": "Bad Request"}
    assert kimai.get("/activities/999").json() == {"code": 404, "message": "Not Found"}


def _timesheet_fixture(sb, kimai_project, count):
    activity = sb.kimai.add_activity("Work", kimai_project["id"])
    for index in range(count):
        day, minute = divmod(index, 600)
        hour, minute = divmod(minute, 60)
        sb.kimai.add_timesheet(
            kimai_project["id"],
            activity["id"],
            f"2024-05-{day + 1:02d}T{hour:02d}:{minute:02d}:00",
            f"2024-05-{day + 1:02d}T{hour + 1:02d}:{minute:02d}:00",
        )
    return activity


def test_timesheet_paging_headers_default_and_500_cap(sb, kimai, kimai_project):
    _timesheet_fixture(sb, kimai_project, 1201)
    first = kimai.get("/timesheets")
    assert len(first.json()) == 50
    assert {h: first.headers[h] for h in ("X-Page", "X-Total-Count", "X-Total-Pages", "X-Per-Page")} == {
        "X-Page": "1",
        "X-Total-Count": "1201",
        "X-Total-Pages": "25",
        "X-Per-Page": "50",
    }
    big = kimai.get("/timesheets", params={"size": 1000, "page": 3})
    assert (big.headers["X-Per-Page"], big.headers["X-Total-Pages"], len(big.json())) == ("500", "3", 201)
    assert kimai.get("/timesheets", params={"size": 500, "page": 4}).json() == {"code": 404, "message": "Not Found"}
    begins = [t["begin"] for t in big.json()]
    assert begins == sorted(begins, reverse=True)  # newest first by default


def test_timesheets_default_to_the_token_user(sb, kimai, kimai_project):
    activity = sb.kimai.add_activity("Work", kimai_project["id"])
    other = sb.kimai.add_user("colleague")
    sb.kimai.add_timesheet(kimai_project["id"], activity["id"], "2024-05-02T08:00:00", "2024-05-02T09:00:00")
    sb.kimai.add_timesheet(
        kimai_project["id"], activity["id"], "2024-05-02T10:00:00", "2024-05-02T11:00:00", user=other["id"]
    )
    assert len(kimai.get("/timesheets").json()) == 1
    assert len(kimai.get("/timesheets", params={"user": "all"}).json()) == 2


def test_timesheet_times_are_local_with_dst_correct_offsets(sb, kimai, kimai_project):
    activity = sb.kimai.add_activity("Work", kimai_project["id"])
    post = lambda begin, end: kimai.post(  # noqa: E731
        "/timesheets",
        json={  # noqa: E731
            "project": kimai_project["id"],
            "activity": activity["id"],
            "begin": begin,
            "end": end,
            "description": "gitea:acme/web#1",
            "tags": "sync, gitea",
        },
    ).json()
    winter = post("2024-01-15T08:00:00", "2024-01-15T09:30:00")
    times = lambda timesheet: (timesheet["begin"], timesheet["end"], timesheet["duration"])  # noqa: E731
    assert times(winter) == ("2024-01-15T08:00:00+0100", "2024-01-15T09:30:00+0100", 5400)
    assert winter["tags"] == ["sync", "gitea"]
    spring = post("2024-03-31T01:00:00", "2024-03-31T04:00:00")  # clocks jump 02:00 -> 03:00
    assert times(spring) == ("2024-03-31T01:00:00+0100", "2024-03-31T04:00:00+0200", 7200)
    autumn = post("2024-10-27T01:00:00", "2024-10-27T04:00:00")  # clocks fall back 03:00 -> 02:00
    assert times(autumn) == ("2024-10-27T01:00:00+0200", "2024-10-27T04:00:00+0100", 14400)
    window = kimai.get("/timesheets", params={"begin": "2024-03-31T00:00:00", "end": "2024-03-31T23:59:59"}).json()
    assert [t["id"] for t in window] == [spring["id"]]


def test_other_user_timezone():
    with Sandbox(kimai_timezone="America/New_York") as sandbox:
        customer = sandbox.kimai.add_customer("C1")
        project = sandbox.kimai.add_project("P1", customer["id"])
        activity = sandbox.kimai.add_activity("A1", project["id"])
        summer = sandbox.kimai.add_timesheet(
            project["id"], activity["id"], "2024-07-01T09:00:00", "2024-07-01T10:00:00"
        )
        assert summer["begin"] == "2024-07-01T09:00:00-0400"
        assert sandbox.violations == []


def test_timesheet_rules(sb, kimai, kimai_project, allow_violations):
    hidden = sb.kimai.add_activity("Hidden", kimai_project["id"], visible=False)
    foreign = sb.kimai.add_activity("Foreign", sb.kimai.add_project("Other", kimai_project["customer"])["id"])
    post = lambda **body: kimai.post("/timesheets", json={"project": kimai_project["id"], **body}).json()  # noqa: E731
    assert post(activity=hidden["id"], begin="2024-05-02T08:00:00")["errors"]["children"]["activity"] == {
        "errors": ["Cannot start a disabled activity."]
    }
    assert post(activity=foreign["id"], begin="2024-05-02T08:00:00")["errors"]["children"]["project"] == {
        "errors": ["Project mismatch, project specific activity and timesheet project are different."]
    }
    visible = sb.kimai.add_activity("Visible", kimai_project["id"])
    assert post(activity=visible["id"], begin="2024-05-02T08:00:00", end="2024-05-02T07:00:00")["errors"]["children"][
        "end"
    ] == {"errors": ["End date must not be earlier then start date."]}
    assert post(activity=visible["id"], begin="2024-05-02 08:00")["errors"]["children"]["begin"] == {
        "errors": ["Please enter a valid date and time."]
    }


def test_timesheet_patch_delete_and_modified_after(sb, kimai, kimai_project):
    activity = sb.kimai.add_activity("Work", kimai_project["id"])
    created = kimai.post(
        "/timesheets",
        json={
            "project": kimai_project["id"],
            "activity": activity["id"],
            "begin": "2024-05-02T08:00:00",
            "end": "2024-05-02T09:00:00",
            "billable": True,
        },
    ).json()
    patched = kimai.patch(f"/timesheets/{created['id']}", json={"description": "changed"}).json()
    assert (patched["description"], patched["billable"], patched["begin"]) == ("changed", False, created["begin"])
    assert len(kimai.get("/timesheets", params={"modified_after": "2000-01-01T00:00:00"}).json()) == 1
    assert kimai.get("/timesheets", params={"modified_after": "2999-01-01T00:00:00"}).json() == []
    assert kimai.delete(f"/timesheets/{created['id']}").status_code == 204
    assert kimai.get(f"/timesheets/{created['id']}").status_code == 404


@pytest.fixture
def people(sb):
    """Besides admin (id 1): carol (alias, title, account number), dave (hidden) and erin."""
    kimai = sb.kimai
    carol = kimai.add_user(
        "carol", email="Carol.Jones@Example.com", alias="Carol Jones", title="Support Lead", accountNumber="A-0042"
    )
    dave = kimai.add_user("dave", email="dave@example.org", alias="Dave", enabled=False)
    erin = kimai.add_user("erin", email="erin@example.com", alias=None, title="Support")
    return {"carol": carol["id"], "dave": dave["id"], "erin": erin["id"]}


def test_users_list_filters_by_visibility_and_every_word_of_the_term(sb, kimai, people):
    names = lambda **params: [u["username"] for u in kimai.get("/users", params=params).json()]  # noqa: E731
    assert names() == ["admin", "carol", "erin"]  # visible=1 (enabled) by default, ordered by username
    assert names(visible=2) == ["dave"] and names(visible=3) == ["admin", "carol", "dave", "erin"]
    assert names(term="carol.jones@example.COM") == ["carol"]  # case-insensitive, in the e-mail
    assert names(term="support", visible=3) == ["carol", "erin"]  # in the title
    assert names(term="support lead") == ["carol"]  # every word must match, each in any field
    assert names(term="a-0042") == ["carol"] and names(term="jones 0042 carol") == ["carol"]
    assert names(term="support !lead") == ["erin"]  # !word excludes
    assert names(term="dave") == [] and names(term="dave", visible=3) == ["dave"]
    assert names(term="nobody") == []
    assert names(orderBy="alias", visible=3) == ["erin", "carol", "dave", "admin"]  # NULL first; "Sandbox Admin"
    assert names(orderBy="id", order="DESC", visible=3) == ["erin", "dave", "carol", "admin"]
    assert names(orderBy="email", visible=3) == ["admin", "carol", "dave", "erin"]


def test_users_list_shapes_and_user_by_id(sb, kimai, people):
    collection = kimai.get("/users", params={"term": "carol"}).json()
    assert collection == [
        {
            "id": people["carol"],
            "username": "carol",
            "email": "Carol.Jones@Example.com",
            "enabled": True,
            "apiToken": True,
            "systemAccount": False,
            "color": None,
            "color-safe": "#d2d6de",
            "avatar": None,
            "alias": "Carol Jones",
            "accountNumber": "A-0042",
            "initials": "CA",
            "title": "Support Lead",
            "language": "en",
            "locale": "en",
            "timezone": "Europe/Berlin",
        }
    ]
    [full] = kimai.get("/users", params={"term": "carol", "full": "true"}).json()
    assert {k: v for k, v in full.items() if k in collection[0]} == collection[0]
    assert full["roles"] == ["ROLE_USER"] and full["teams"] == [] and full["supervisor"] is None
    assert kimai.get(f"/users/{people['carol']}").json() == full
    assert kimai.get("/users/1").json() == kimai.get("/users/me").json()


def test_users_list_bad_values_are_400_and_unknown_user_404(kimai, people, allow_violations):
    for params in ({"visible": 4}, {"orderBy": "title"}, {"order": "up"}, {"full": "yes"}):
        response = kimai.get("/users", params=params)
        assert (response.status_code, response.json()) == (400, {"code": 400, "message": "Bad Request"}), params
    response = kimai.get("/users/99")
    assert (response.status_code, response.json()) == (404, {"code": 404, "message": "Not Found"})


def test_users_need_view_user_which_only_super_admins_have(sb, kimai, kimai_project, people):
    activity = sb.kimai.add_activity("Work", kimai_project["id"])
    sb.kimai.add_timesheet(kimai_project["id"], activity["id"], "2024-05-02T08:00:00", "2024-05-02T09:00:00")
    sb.kimai.add_timesheet(
        kimai_project["id"], activity["id"], "2024-05-02T10:00:00", "2024-05-02T11:00:00", user=people["carol"]
    )
    assert sb.kimai.may("view_user")
    sb.kimai.update_user(sb.kimai.me, roles=["ROLE_ADMIN"])
    denied = {"code": 403, "message": "Access denied."}
    for path, params in (
        ("/users", {}),
        ("/users", {"visible": 3, "term": "carol"}),
        (f"/users/{people['carol']}", {}),
    ):
        response = kimai.get(path, params=params)
        assert (response.status_code, response.json()) == (403, denied), path
    assert kimai.get("/users/me").json()["roles"] == ["ROLE_ADMIN"] and kimai.get("/users/1").status_code == 200
    sb.kimai.update_user(sb.kimai.me, roles=["ROLE_USER"])  # without view_other_timesheet: ?user= is ignored
    assert [t["user"] for t in kimai.get("/timesheets", params={"user": people["carol"]}).json()] == [1]
    assert [t["user"] for t in kimai.get("/timesheets", params={"user": "all"}).json()] == [1]
    sb.kimai.grant("ROLE_USER", "view_user")  # view_user without view_all_data: only oneself (no teams)
    assert [u["username"] for u in kimai.get("/users", params={"visible": 3}).json()] == ["admin"]
    sb.kimai.grant("ROLE_USER", "view_all_data")
    assert len(kimai.get("/users", params={"visible": 3}).json()) == 4


def test_users_permission_is_checked_before_the_parameters(sb, kimai, allow_violations):
    sb.kimai.update_user(sb.kimai.me, roles=["ROLE_USER"])
    response = kimai.get("/users", params={"visible": 9})
    assert (response.status_code, response.json()) == (403, {"code": 403, "message": "Access denied."})
