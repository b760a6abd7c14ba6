"""The store's schema: one migration script per version (PRAGMA user_version counts them)."""

MIGRATIONS = [
    # 1: the foundation
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        job TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,            -- running, ok, partial, failed (interrupted: from schema 4)
        exit_code INTEGER,
        params TEXT,                     -- JSON of the run's flags
        created INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        hidden INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0,
        writes INTEGER NOT NULL DEFAULT 0,
        message TEXT
    );
    CREATE INDEX runs_job ON runs(job, id);
    CREATE TABLE links (
        job TEXT NOT NULL,
        source_key TEXT NOT NULL,        -- the origin marker, e.g. gitea:acme/web#42
        target_type TEXT NOT NULL,       -- project, activity, timesheet, ...
        target_id INTEGER,
        state TEXT NOT NULL,             -- pending, synced, failed
        source_hash TEXT,                -- hash of the mapped fields last written
        data TEXT,                       -- JSON of the mapped fields last written
        error TEXT,
        run_id INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (job, source_key)
    );
    CREATE INDEX links_state ON links(job, state);
    CREATE TABLE cursors (
        job TEXT NOT NULL,
        scope TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (job, scope)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        run_id INTEGER,
        job TEXT NOT NULL,
        source_key TEXT NOT NULL,
        action TEXT NOT NULL,            -- create, update, hide, link
        target_type TEXT NOT NULL,
        target_id INTEGER,
        before TEXT,
        after TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX audit_item ON audit(job, source_key);
    CREATE TABLE item_errors (
        id INTEGER PRIMARY KEY,
        run_id INTEGER,
        job TEXT NOT NULL,
        source_key TEXT NOT NULL,
        message TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX item_errors_run ON item_errors(run_id);
    """,
    # 2: the zammad-kimai job: conflicts, webhook deliveries, deleted and conflict counts
    """
    ALTER TABLE runs ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY,
        job TEXT NOT NULL,
        source_key TEXT NOT NULL,
        target_type TEXT NOT NULL,
        target_id INTEGER,
        source_data TEXT,                -- what the source says now
        target_data TEXT,                -- what the target holds now (edited by a person)
        last_data TEXT,                  -- what the toolkit wrote last
        source_hash TEXT,
        run_id INTEGER,
        detected_at TEXT NOT NULL,
        resolved_at TEXT,
        resolution TEXT                  -- source, target, skip
    );
    CREATE UNIQUE INDEX conflicts_open ON conflicts(job, source_key) WHERE resolved_at IS NULL;
    CREATE TABLE webhook_deliveries (
        delivery_id TEXT PRIMARY KEY,
        job TEXT NOT NULL,
        item TEXT,
        received_at TEXT NOT NULL
    );
    """,
    # 3: imports (toggl-kimai, harvest-kimai, csv-kimai): history with per-row errors
    """
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        run_id INTEGER,
        job TEXT NOT NULL,
        source TEXT NOT NULL,            -- toggl, harvest, csv
        parameters TEXT,                 -- JSON: window, file name, flags
        file_sha256 TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,            -- running, ok, partial, failed (interrupted: from schema 4), invalid
        read INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE import_errors (
        id INTEGER PRIMARY KEY,
        import_id INTEGER NOT NULL,
        line INTEGER,                    -- CSV line number (header = 1), else null
        item TEXT,                       -- origin marker or source id
        message TEXT NOT NULL
    );
    CREATE INDEX import_errors_import ON import_errors(import_id);
    """,
    # 4: run durations to the millisecond (measured on a monotonic clock), status interrupted
    """
    ALTER TABLE runs ADD COLUMN duration_ms INTEGER;
    """,
    # 5: graph-kimai: the local copy of every Outlook calendar event of the window (store_graph.py);
    # delta links live in cursors (job graph-kimai, scope delta:{mailbox}), timesheet links in links
    """
    CREATE TABLE graph_events (
        mailbox TEXT NOT NULL,           -- lower-cased address
        event_id TEXT NOT NULL,
        ical_uid TEXT,
        type TEXT,                       -- singleInstance, occurrence, exception, seriesMaster
        series_master_id TEXT,
        subject TEXT,
        start_utc TEXT,                  -- 'YYYY-MM-DDTHH:MM:SSZ'
        end_utc TEXT,
        is_all_day INTEGER NOT NULL DEFAULT 0,   -- all-day: start/end = local midnights of the mailbox zone, in UTC
        time_zone TEXT,                  -- the mailbox's IANA zone when the event was read
        show_as TEXT,                    -- free, tentative, busy, oof, workingElsewhere, unknown
        response TEXT,                   -- the mailbox owner's responseStatus.response
        sensitivity TEXT,                -- normal, personal, private, confidential
        is_cancelled INTEGER NOT NULL DEFAULT 0,
        categories TEXT,                 -- JSON list of strings
        organizer TEXT,                  -- organizer e-mail address
        last_modified TEXT,
        change_key TEXT,
        deleted_at TEXT,                 -- set when the source removed it; the row is kept
        seen_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, event_id)
    );
    CREATE INDEX graph_events_start ON graph_events(start_utc);
    """,
    # 6: confluence-jira (store_atlassian.py): the issue of each page task (pending before its
    # create, with the time the create was first sent), the pages of the trees read (versions,
    # their Jira macro) and every page write with the body it replaced (for `sync.py undo`)
    """
    CREATE TABLE jira_task_issues (
        origin TEXT PRIMARY KEY,         -- the origin label confluence-task-{page id}-{task id}
        page_id TEXT NOT NULL,
        task_id TEXT NOT NULL,
        state TEXT NOT NULL,             -- pending (create sent, outcome unknown), linked
        sent_at TEXT,                    -- when the pending create was first sent (JIRA_SEARCH_LAG counts from here)
        issue_id TEXT,
        issue_key TEXT,
        created_run INTEGER,             -- the run whose create made the issue (null: found by its label or macro)
        task_complete INTEGER,           -- the checkbox as last synced
        issue_status TEXT,               -- the issue's status name as last synced
        issue_done INTEGER,              -- its status category was done
        on_page INTEGER NOT NULL DEFAULT 0,      -- the issue's macro is on the page
        remote_link INTEGER NOT NULL DEFAULT 0,  -- the issue's remote link to the page is set
        run_id INTEGER,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jira_task_issues_page ON jira_task_issues(page_id);
    CREATE INDEX jira_task_issues_created ON jira_task_issues(created_run);
    CREATE TABLE confluence_pages (
        page_id TEXT PRIMARY KEY,
        root_id TEXT NOT NULL,           -- the configured page whose tree holds it
        parent_id TEXT,
        title TEXT,
        version INTEGER NOT NULL,        -- the version last read and fully synced
        jira_project TEXT,               -- the project of the first Jira issue macro on the page
        jira_issue TEXT,                 -- that macro's issue key (the parent of new issues)
        seen_at TEXT NOT NULL
    );
    CREATE TABLE confluence_page_writes (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL,
        page_id TEXT NOT NULL,
        title TEXT,
        version_before INTEGER NOT NULL, -- the version the write replaced
        body_before TEXT NOT NULL,       -- its storage body (undo puts it back)
        version_written INTEGER NOT NULL,
        written_at TEXT NOT NULL,
        undone_run INTEGER               -- the undo run that restored it
    );
    CREATE INDEX confluence_page_writes_run ON confluence_page_writes(run_id);
    """,
    # 7: jira-confluence (store_epic_pages.py): the page of each epic (pending before its create,
    # the version and body hash last written), and the issues last read (the tables are rebuilt
    # from them on incremental runs)
    """
    CREATE TABLE epic_pages (
        origin TEXT PRIMARY KEY,         -- the marker tracksync-epic-{issue id} (tracksync-noepic-{project})
        project TEXT NOT NULL,
        parent_id TEXT NOT NULL,         -- the parent page it lives under
        epic_key TEXT,
        state TEXT NOT NULL,             -- pending (create sent), linked, gone (epic no longer in the project)
        page_id TEXT,
        title TEXT,
        version INTEGER,                 -- the version tracksync last wrote (another one: a person edited it)
        body_hash TEXT,                  -- hash of the body as written
        content_hash TEXT,               -- hash of the generated title and body
        run_id INTEGER,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE epic_issues (
        issue_id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        issue_key TEXT NOT NULL,
        epic_id TEXT,                    -- the epic's issue id (null: none; the issue itself when an epic)
        data TEXT NOT NULL,              -- JSON: the fields the pages show
        updated_at TEXT NOT NULL
    );
    CREATE INDEX epic_issues_project ON epic_issues(project);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
RUN_COUNTS = ("created", "updated", "hidden", "deleted", "unchanged", "failed", "conflicts", "requests", "writes")
TABLES = (
    "runs",
    "links",
    "cursors",
    "audit",
    "item_errors",
    "conflicts",
    "webhook_deliveries",
    "imports",
    "import_errors",
    "graph_events",
    "jira_task_issues",
    "confluence_pages",
    "confluence_page_writes",
    "epic_pages",
    "epic_issues",
)
