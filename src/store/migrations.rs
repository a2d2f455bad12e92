//! The store's schema: versioned migrations, run in order on open; the store's
//! `user_version` says how many have run.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the foundation schema.
    r#"
    CREATE TABLE series (
        key       TEXT PRIMARY KEY,
        resource  TEXT NOT NULL,
        signal    TEXT NOT NULL,
        query     TEXT NOT NULL,             -- JSON of MetricQuery
        fetched_through INTEGER              -- last period start fetched successfully
    );
    CREATE TABLE points (
        series_key TEXT NOT NULL,
        ts         INTEGER NOT NULL,         -- period start, seconds since the epoch
        value      REAL NOT NULL,
        PRIMARY KEY (series_key, ts)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        id         INTEGER PRIMARY KEY,
        taken_at   INTEGER NOT NULL,
        region     TEXT NOT NULL,
        partial    INTEGER NOT NULL,
        sources    TEXT NOT NULL,            -- JSON [SourceStatus]
        asgs       TEXT NOT NULL,            -- JSON [AsgState]
        tables     TEXT NOT NULL,            -- JSON [TableState]
        api_calls  TEXT NOT NULL,            -- JSON ApiCalls
        points_fetched INTEGER NOT NULL
    );
    CREATE INDEX snapshots_taken_at ON snapshots (taken_at);
    CREATE TABLE spend (
        day        TEXT NOT NULL,
        service    TEXT NOT NULL,
        amount_micros INTEGER NOT NULL,
        PRIMARY KEY (day, service)
    );
    CREATE TABLE advisories (
        fingerprint TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        severity    TEXT NOT NULL,
        summary     TEXT NOT NULL,
        evidence    TEXT NOT NULL,           -- JSON
        action      TEXT,                    -- JSON, optional
        cost_delta_micros INTEGER,
        state       TEXT NOT NULL,           -- open, acknowledged, applied, resolved, expired
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE rule_state (
        rule        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        state       TEXT NOT NULL,           -- inactive, pending, firing, resolved
        active_since INTEGER,
        fired_at    INTEGER,
        last_eval   INTEGER NOT NULL,
        PRIMARY KEY (rule, resource)
    );
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY,
        channel     TEXT NOT NULL,           -- email, slack
        group_key   TEXT NOT NULL,
        dedup_key   TEXT NOT NULL UNIQUE,
        payload     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        not_before  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        sent_at     INTEGER
    );
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        advisory    TEXT,
        resource    TEXT NOT NULL,
        phase       TEXT NOT NULL,           -- before, after
        action      TEXT NOT NULL,           -- JSON
        outcome     TEXT
    );
    "#,
    // 2: rule state needs when a firing condition cleared (keep_firing_for) and the last value.
    r#"
    ALTER TABLE rule_state ADD COLUMN cleared_since INTEGER;
    ALTER TABLE rule_state ADD COLUMN value REAL;
    CREATE INDEX advisories_state ON advisories (state, kind);
    "#,
    // 3: points keyed by an integer series id instead of the series' text key: the key (about
    // 60 bytes) was repeated in every one of tens of millions of rows.
    r#"
    CREATE TABLE series_ids (
        id  INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE
    );
    INSERT INTO series_ids (key) SELECT key FROM series;
    INSERT OR IGNORE INTO series_ids (key) SELECT DISTINCT series_key FROM points;
    CREATE TABLE points_by_id (
        series INTEGER NOT NULL,             -- series_ids.id
        ts     INTEGER NOT NULL,
        value  REAL NOT NULL,
        PRIMARY KEY (series, ts)
    ) WITHOUT ROWID;
    INSERT INTO points_by_id (series, ts, value)
        SELECT i.id, p.ts, p.value FROM points p JOIN series_ids i ON i.key = p.series_key;
    DROP TABLE points;
    ALTER TABLE points_by_id RENAME TO points;
    "#,
    // 4: the latest forecasts (outlooks) per region, computed on the forecast schedule and
    // read by every cycle in between.
    r#"
    CREATE TABLE outlooks (
        region      TEXT NOT NULL,
        resource    TEXT NOT NULL,
        signal      TEXT NOT NULL,
        computed_at INTEGER NOT NULL,
        body        TEXT NOT NULL,           -- JSON
        PRIMARY KEY (region, resource, signal)
    );
    CREATE TABLE forecast_runs (
        region TEXT PRIMARY KEY,
        at     INTEGER NOT NULL
    );
    "#,
    // 5: scopes. Every key gains the scope (`account/region`; spend, which Cost Explorer
    // reports per account, the account). Rows written before carry '' until
    // `Sqlite::adopt_unscoped` moves them to the configured default scope (it needs the
    // config, which a migration does not see). Outlooks are a cache: dropped, the next cycle
    // forecasts again.
    r#"
    CREATE TABLE series5 (
        scope     TEXT NOT NULL,
        key       TEXT NOT NULL,
        resource  TEXT NOT NULL,
        signal    TEXT NOT NULL,
        query     TEXT NOT NULL,
        fetched_through INTEGER,
        PRIMARY KEY (scope, key)
    );
    INSERT INTO series5 SELECT '', key, resource, signal, query, fetched_through FROM series;
    DROP TABLE series;
    ALTER TABLE series5 RENAME TO series;
    CREATE TABLE series_ids5 (
        id    INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        key   TEXT NOT NULL,
        UNIQUE (scope, key)
    );
    INSERT INTO series_ids5 (id, scope, key) SELECT id, '', key FROM series_ids;
    DROP TABLE series_ids;
    ALTER TABLE series_ids5 RENAME TO series_ids;
    ALTER TABLE snapshots ADD COLUMN scope TEXT NOT NULL DEFAULT '';
    CREATE INDEX snapshots_scope ON snapshots (scope, taken_at);
    CREATE TABLE spend5 (
        account       TEXT NOT NULL,
        day           TEXT NOT NULL,
        service       TEXT NOT NULL,
        amount_micros INTEGER NOT NULL,
        PRIMARY KEY (account, day, service)
    );
    INSERT INTO spend5 SELECT '', day, service, amount_micros FROM spend;
    DROP TABLE spend;
    ALTER TABLE spend5 RENAME TO spend;
    ALTER TABLE advisories ADD COLUMN scope TEXT NOT NULL DEFAULT '';
    CREATE INDEX advisories_scope ON advisories (scope, state);
    CREATE TABLE rule_state5 (
        scope        TEXT NOT NULL,
        rule         TEXT NOT NULL,
        resource     TEXT NOT NULL,
        state        TEXT NOT NULL,
        active_since INTEGER,
        fired_at     INTEGER,
        last_eval    INTEGER NOT NULL,
        cleared_since INTEGER,
        value        REAL,
        PRIMARY KEY (scope, rule, resource)
    );
    INSERT INTO rule_state5 SELECT '', rule, resource, state, active_since, fired_at, last_eval, cleared_since, value FROM rule_state;
    DROP TABLE rule_state;
    ALTER TABLE rule_state5 RENAME TO rule_state;
    DROP TABLE outlooks;
    DROP TABLE forecast_runs;
    CREATE TABLE outlooks (
        scope       TEXT NOT NULL,
        resource    TEXT NOT NULL,
        signal      TEXT NOT NULL,
        computed_at INTEGER NOT NULL,
        body        TEXT NOT NULL,           -- JSON
        PRIMARY KEY (scope, resource, signal)
    );
    CREATE TABLE forecast_runs (
        scope TEXT PRIMARY KEY,
        at    INTEGER NOT NULL
    );
    ALTER TABLE outbox ADD COLUMN scope TEXT NOT NULL DEFAULT '';
    ALTER TABLE audit ADD COLUMN scope TEXT NOT NULL DEFAULT '';
    "#,
    // 6: when each account's spend was last read from Cost Explorer (it is read on its own
    // schedule, not every cycle: each request is billed).
    r#"
    CREATE TABLE spend_fetches (
        account TEXT PRIMARY KEY,
        at      INTEGER NOT NULL
    );
    "#,
    // 7: delivery. The outbox is an advisory change written in the cycle's transaction (the
    // table of migration 1 was never written, and is replaced); deliveries wait in their group;
    // notifications are the log, one row per message per receiver (or per suppressed notice);
    // notify_log is what each receiver was last told of each advisory (dedup and repeats);
    // group_log when each group last went out (group_interval); silences by matcher.
    r#"
    DROP TABLE outbox;
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        scope       TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        event       TEXT NOT NULL,           -- opened, changed, repeat, resolved
        at          INTEGER NOT NULL,
        body        TEXT NOT NULL,           -- JSON Notice
        routed_at   INTEGER
    );
    CREATE INDEX outbox_unrouted ON outbox (id) WHERE routed_at IS NULL;
    ALTER TABLE advisories ADD COLUMN notified_at INTEGER;
    CREATE TABLE deliveries (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        receiver    TEXT NOT NULL,
        group_key   TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        event_id    INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        group_wait  INTEGER NOT NULL,
        group_interval INTEGER NOT NULL,
        body        TEXT NOT NULL            -- JSON Notice
    );
    CREATE INDEX deliveries_group ON deliveries (receiver, group_key);
    CREATE TABLE notifications (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        receiver    TEXT NOT NULL,
        group_key   TEXT NOT NULL,
        state       TEXT NOT NULL,           -- pending, sent, failed, suppressed
        reason      TEXT,
        message_id  TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        sent_at     INTEGER,
        items       TEXT NOT NULL            -- JSON [Notice]
    );
    CREATE INDEX notifications_pending ON notifications (receiver, id) WHERE state = 'pending';
    CREATE TABLE notify_log (
        receiver    TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        event       TEXT NOT NULL,
        severity    TEXT NOT NULL,
        sent_at     INTEGER NOT NULL,
        PRIMARY KEY (receiver, fingerprint)
    );
    CREATE TABLE group_log (
        receiver    TEXT NOT NULL,
        group_key   TEXT NOT NULL,
        sealed_at   INTEGER NOT NULL,
        PRIMARY KEY (receiver, group_key)
    );
    CREATE TABLE silences (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        matchers    TEXT NOT NULL,           -- JSON [[label, pattern]]
        comment     TEXT NOT NULL,
        created_by  TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        ends_at     INTEGER NOT NULL
    );
    "#,
    // 8: the weekly review. advisory_history is every advisory's life (opened, changed,
    // resolved, expired, acknowledged, applied) as it happened, whether or not anyone is
    // notified: a fingerprint reopened keeps its earlier firings. reports is what review went
    // to which receiver for which week, so the daemon sends each week's review once across
    // restarts.
    r#"
    CREATE TABLE advisory_history (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        scope       TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        kind        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        severity    TEXT NOT NULL,
        event       TEXT NOT NULL,           -- opened, changed, resolved, expired, acknowledged, applied
        at          INTEGER NOT NULL,
        summary     TEXT NOT NULL,
        cost_delta_micros INTEGER
    );
    CREATE INDEX advisory_history_at ON advisory_history (scope, at);
    CREATE TABLE reports (
        week        TEXT NOT NULL,           -- ISO week, 2026-W49
        receiver    TEXT NOT NULL,
        state       TEXT NOT NULL,           -- sent, failed
        attempts    INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        error       TEXT,
        PRIMARY KEY (week, receiver)
    );
    "#,
    // 9: the audit of actions (migration 1's table was never written): one row per change,
    // written before the call (intent, before, guardrail verdicts) and completed after it
    // (outcome, the setting read back, the error).
    r#"
    DROP TABLE audit;
    CREATE TABLE audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        scope       TEXT NOT NULL,
        resource    TEXT NOT NULL,           -- asg/NAME, table/NAME
        fingerprint TEXT,                    -- the advisory applied (NULL for an undo)
        kind        TEXT,
        undo_of     INTEGER,
        mode        TEXT NOT NULL,           -- approve, auto, undo
        summary     TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        outcome     TEXT NOT NULL,           -- started, applied, in-progress, failed
        before      TEXT NOT NULL,           -- JSON Setting, read from AWS just before
        intended    TEXT NOT NULL,           -- JSON Setting
        after       TEXT,                    -- JSON Setting, read back after
        verdicts    TEXT NOT NULL,           -- JSON [Verdict]
        error       TEXT,
        refresh_id  TEXT,
        decrease    INTEGER NOT NULL DEFAULT 0  -- lowers a table's provisioned capacity
    );
    CREATE INDEX audit_resource ON audit (scope, resource, started_at);
    CREATE INDEX audit_started ON audit (started_at);
    "#,
    // 10: one writer per resource. A change claims its resource with its `started` row (and
    // a rolling-out `in-progress` one keeps it); a unique index makes a second claim fail in
    // any process. Rows left `started` by a crash before this version cannot be told apart:
    // all but the newest of a resource become `unknown` (reconciled at the next cycle). The
    // owner (host:pid) tells a live claim from a dead one; `reasons` holds a blocked
    // attempt's reasons.
    r#"
    ALTER TABLE audit ADD COLUMN owner TEXT;
    ALTER TABLE audit ADD COLUMN reasons TEXT;
    UPDATE audit SET outcome = 'unknown'
     WHERE outcome IN ('started', 'in-progress')
       AND id NOT IN (SELECT MAX(id) FROM audit WHERE outcome IN ('started', 'in-progress') GROUP BY scope, resource);
    CREATE UNIQUE INDEX audit_claim ON audit (scope, resource) WHERE outcome IN ('started', 'in-progress');
    CREATE INDEX audit_fingerprint ON audit (fingerprint, started_at);
    ALTER TABLE advisories ADD COLUMN basis TEXT;      -- JSON Setting the advice was decided against
    "#,
    // 11: the file says it is headroom's (SQLite's application_id, "hdrm"), so a store path
    // pointed at another application's database is refused before anything is written.
    r#"
    PRAGMA application_id = 1751413357;
    "#,
    // 12: a notification is checked against the later ones of its receiver right before each
    // attempt (superseded items are dropped): by receiver and id, whatever the state.
    r#"
    CREATE INDEX notifications_receiver ON notifications (receiver, id);
    "#,
];
