"""--dry-run tells the truth about containers: every customer, project and activity a run would
create is listed once with its parent, nothing is written, and the real run afterwards creates
exactly what the plan listed (sync.py as a subprocess against the sandbox)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from gitea_helpers import seed as seed_gitea

CONTAINERS = ("create customer ", "create project ", "create activity ")


def plan_lines(proc):
    """The plan's action lines (under whatever headings), stripped."""
    return [
        line.strip() for line in proc.stdout.splitlines() if line.startswith("  ") and not line.rstrip().endswith(":")
    ]


def container_lines(proc):
    return Counter(line for line in plan_lines(proc) if line.startswith(CONTAINERS))


def kimai_state(sb):
    customers = {c["id"]: c["name"] for c in sb.kimai.customers}
    projects = {p["id"]: (p["name"], customers[p["customer"]]) for p in sb.kimai.projects}
    return (
        set(customers.items()),
        set(projects.items()),
        {(a["id"], a["name"], a["project"]) for a in sb.kimai.activities},
        projects,
    )


def created_lines(before, after, count_activities=True):
    """The plan lines that would describe what appeared in the sandbox's Kimai between two states."""
    lines = Counter()
    lines.update(f"create customer {name!r}" for _, name in after[0] - before[0])
    lines.update(f"create project {name!r} (customer {customer!r})" for _, (name, customer) in after[1] - before[1])
    if count_activities:
        for _, name, project in after[2] - before[2]:
            project_name, customer = after[3][project]
            lines[f"create activity {name!r} in project {project_name!r} (customer {customer!r})"] += 1
    return lines


def kimai_writes(sb):
    return [
        (r.method, r.path)
        for r in sb.requests
        if r.service == "kimai" and r.method in ("POST", "PATCH", "PUT", "DELETE")
    ]


def dry_run_then_real(workdir, *args, count_activities=True):
    """Runs the job under --dry-run (asserting nothing is written), then for real; returns the
    plan's container lines, what the real run created, and both outputs."""
    sb = workdir.sandbox
    sb.clear_requests()
    before = kimai_state(sb)
    dry = workdir.sync(*args, "--dry-run", check_code=0)
    assert kimai_writes(sb) == [] and not workdir.db.exists()
    assert kimai_state(sb)[:3] == before[:3]
    real = workdir.sync(*args, check_code=0)
    return container_lines(dry), created_lines(before, kimai_state(sb), count_activities), dry, real


def item_creates(proc, prefix):
    return sum(line.startswith(f"create {prefix}") for line in plan_lines(proc))


# -- csv-kimai --create-missing -------------------------------------------------------------------
HEADER = "date,begin,end,duration,project,activity,customer,description,tags,billable,user"


def test_csv_create_missing_lists_each_container_once_and_the_real_run_creates_exactly_them(workdir):
    sb = workdir.sandbox
    acme = sb.kimai.add_customer("Acme Corp")
    sb.kimai.add_project("Website", acme["id"])
    sb.kimai.add_activity("Development", None)
    rows = [
        "2026-03-31,09:00,10:00,,Website,Development,Acme Corp,known,,,",  # all exists
        "2026-03-31,10:00,11:00,,Website,Work,Globex,a,,,",  # new customer, project, activity
        "2026-03-31,11:00,12:00,,Website,Work,Globex,b,,,",
        "2026-03-31,13:00,14:00,,Website,Work,Globex,c,,,",
        "2026-03-31,14:00,15:00,,Website,Design,Acme Corp,d,,,",  # new activity in an existing project
        "2026-03-31,15:00,16:00,,Website,Design,Acme Corp,e,,,",
        "2026-04-01,09:00,10:00,,Intranet,Development,,f,,,",
    ]  # new project under IMPORT_CUSTOMER
    (workdir.path / "hours.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    planned, created, dry, real = dry_run_then_real(workdir, "csv-kimai", "hours.csv", "--create-missing")
    assert planned == Counter(
        {
            "create customer 'Globex'": 1,
            "create project 'Website' (customer 'Globex')": 1,
            "create activity 'Work' in project 'Website' (customer 'Globex')": 1,
            "create activity 'Design' in project 'Website' (customer 'Acme Corp')": 1,
            "create customer 'Imported'": 1,
            "create project 'Intranet' (customer 'Imported')": 1,
        }
    ), dry.stdout
    assert created == planned
    assert item_creates(dry, "line ") == 7 and len(sb.kimai.timesheets) == 7
    assert "Europe/Berlin" in next(ln for ln in plan_lines(dry) if ln.startswith("create line 2"))


# -- toggl-kimai ----------------------------------------------------------------------------------
def test_toggl_clients_projects_and_tasks_are_planned_once_and_created_as_planned(workdir):
    sb = workdir.sandbox
    env = sb.env(owner="acme")
    workdir.set(**{k: env[k] for k in ("TOGGL_URL", "TOGGL_TOKEN", "TOGGL_WORKSPACE")})
    sb.kimai.add_activity("Work", None)
    website = sb.toggl.add_project("Website", client_name="Globex")
    intranet = sb.toggl.add_project("Intranet", client_name="Globex")
    day = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for n in range(6):
        start = day + timedelta(hours=n)
        project = website if n % 2 else intranet
        sb.toggl.add_entry(start, start + timedelta(minutes=30), description=f"Task {n}", project_id=project["id"])
    planned, created, dry, _ = dry_run_then_real(
        workdir, "toggl-kimai", "--from", "2026-11-01", "--to", "2026-11-03", "--create-missing"
    )
    assert planned == Counter(
        {
            "create customer 'Globex'": 1,
            "create project 'Website' (customer 'Globex')": 1,
            "create project 'Intranet' (customer 'Globex')": 1,
        }
    ), dry.stdout
    assert created == planned
    assert item_creates(dry, "toggl ") == 6 and len(sb.kimai.timesheets) == 6


# -- gitea-kimai with a new KIMAI_CUSTOMER ----------------------------------------------------------
def test_gitea_new_customer_is_planned_once_for_all_repositories(workdir):
    sb = workdir.sandbox
    seed_gitea(sb, issues=2)
    sb.kimai.add_customer("acme")  # the owner's name exists; the configured customer does not
    workdir.set(KIMAI_CUSTOMER="Globex Corp")
    planned, created, dry, _ = dry_run_then_real(workdir, "gitea-kimai", count_activities=False)
    assert planned == Counter(
        {
            "create customer 'Globex Corp'": 1,
            "create project 'web' (customer 'Globex Corp')": 1,
            "create project 'api' (customer 'Globex Corp')": 1,
        }
    ), dry.stdout
    assert created == planned
    assert item_creates(dry, "#") == len(sb.kimai.activities) == 5


# -- zammad-kimai with new organisations -----------------------------------------------------------
def test_zammad_new_organisations_are_planned_once_each_with_their_ticket_projects(workdir):
    sb = workdir.sandbox
    workdir.set(
        ZAMMAD_URL=sb.url("zammad"),
        ZAMMAD_TOKEN=sb.tokens["zammad"],
        ZAMMAD_DEFAULT_ACTIVITY="Support",
        SYNC_JOBS="zammad-kimai",
    )
    sb.kimai.add_activity("Support", None)
    numbers = {}
    for organisation in ("Globex", "Initech"):
        org = sb.zammad.add_organization(organisation)
        for n in range(2):
            ticket = sb.zammad.add_ticket(f"Printer {n}", organization_id=org["id"])
            numbers[ticket["id"]] = (ticket["number"], ticket["title"], organisation)
            sb.zammad.add_time_accounting(ticket["id"], 15)
            sb.zammad.add_time_accounting(ticket["id"], 30)
    planned, created, dry, _ = dry_run_then_real(workdir, "zammad-kimai")
    expected = Counter({"create customer 'Globex'": 1, "create customer 'Initech'": 1})
    for number, title, organisation in numbers.values():
        expected[f"create project '#{number} {title}' (customer {organisation!r})"] += 1
    assert planned == expected, dry.stdout
    assert created == planned
    assert item_creates(dry, "#") == len(sb.kimai.timesheets) == 8


def test_zammad_fixed_project_is_planned_once_for_every_ticket(workdir):
    sb = workdir.sandbox
    workdir.set(
        ZAMMAD_URL=sb.url("zammad"),
        ZAMMAD_TOKEN=sb.tokens["zammad"],
        ZAMMAD_DEFAULT_ACTIVITY="Support",
        SYNC_JOBS="zammad-kimai",
        ZAMMAD_PROJECT_STRATEGY="fixed",
        ZAMMAD_PROJECT="Support desk",
        KIMAI_CUSTOMER="Helpdesk",
    )
    sb.kimai.add_activity("Support", None)
    org = sb.zammad.add_organization("Globex")
    for n in range(3):
        ticket = sb.zammad.add_ticket(f"Printer {n}", organization_id=org["id"])
        sb.zammad.add_time_accounting(ticket["id"], 15)
    planned, created, dry, _ = dry_run_then_real(workdir, "zammad-kimai")
    assert planned == Counter(
        {"create customer 'Helpdesk'": 1, "create project 'Support desk' (customer 'Helpdesk')": 1}
    ), dry.stdout
    assert created == planned and len(sb.kimai.timesheets) == 3
    assert {s["project"] for s in sb.kimai.timesheets} == {sb.kimai.projects[0]["id"]}


def test_a_customer_kimai_refuses_fails_what_needs_it_with_one_grouped_reason(workdir):
    sb = workdir.sandbox
    workdir.set(KIMAI_CUSTOMER_COUNTRY="Germany")  # Kimai wants a two-letter code: the customer is refused
    sb.kimai.add_activity("Work", None)
    rows = [f"2026-03-31,{9 + n:02d}:00,{10 + n:02d}:00,,Website,Work,Globex,row {n},,," for n in range(4)]
    (workdir.path / "hours.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    proc = workdir.sync("csv-kimai", "hours.csv", "--create-missing", check_code=3)
    assert sb.kimai.customers == [] and sb.kimai.projects == [] and sb.kimai.timesheets == []
    failed = [line for line in proc.stderr.splitlines() if line.startswith("failed: ")]
    assert failed[0].startswith("failed: customer 'Globex': kimai: create refused (400)") and "country" in failed[0]
    assert failed[1].startswith("failed: 5 entries: customer 'Globex' could not be created (e.g. "), proc.stderr
    assert len(failed) == 2 and "Traceback" not in proc.stderr, proc.stderr
