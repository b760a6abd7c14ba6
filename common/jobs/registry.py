"""Every job `sync.py` can run, by name: sync.py builds a subcommand for each, and diagnose,
test_connection, reports, backups and the webhook look jobs up here. A new job is its module
with one `Job` class (options.py says what it declares) and one entry below."""

from .confluence_jira import ConfluenceJiraJob
from .csv_kimai import CsvKimaiJob
from .gitea_kimai import GiteaKimaiJob
from .graph_kimai import GraphKimaiJob
from .harvest_kimai import HarvestKimaiJob
from .jira_confluence import JiraConfluenceJob
from .options import Job
from .toggl_kimai import TogglKimaiJob
from .zammad_kimai import ZammadKimaiJob

JOBS: dict[str, type[Job]] = {
    job.name: job
    for job in (
        GiteaKimaiJob,
        ZammadKimaiJob,
        TogglKimaiJob,
        HarvestKimaiJob,
        CsvKimaiJob,
        GraphKimaiJob,
        ConfluenceJiraJob,
        JiraConfluenceJob,
    )
}
