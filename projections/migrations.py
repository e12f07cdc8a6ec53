"""The ClickHouse schema as versioned migrations, applied idempotently at start.

Every table is a ReplacingMergeTree keyed by the record's own id (plus, for the event log, the
fact), so writing the same record twice — a replay, a re-read after a crash — converges to one
row; queries read with FINAL or aggregate with argMax/uniqExact, so duplicates that are not yet
merged never show. Sort keys start with team_id (every query filters by team) followed by a
time-sortable ULID id (newest-first pages walk the primary key); skip indexes serve the other
list filters and `q` (an n-gram bloom filter over a lower-cased text column).

A migration's statements are all `IF NOT EXISTS`, so a crash between them is repaired by
running the same migration again; its version is recorded only after the last statement.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from projections.clickhouse import Engine, ident
from projections.errors import EngineError, MigrationError
from projections.layout import Layout
from projections.views import VIEW_NAMES, VIEW_STATEMENTS

log = logging.getLogger(__name__)
SINGLE_NODE = Layout()

# Smaller granules than the 8192 default: a skip index (above all the n-gram filter over
# bodies) then discards more of the table per query.
GRANULARITY = "SETTINGS index_granularity = 2048"
NGRAMS = "TYPE ngrambf_v1(3, 65536, 2, 0) GRANULARITY 1"
BLOOM = "TYPE bloom_filter(0.01) GRANULARITY 1"
HEADERS = "Array(Tuple(name String, value String))"
TIME = "DateTime64(3, 'UTC')"

STATE_COMMENT = "QUEUED | SCHEDULED | HOLD | SUCCESSFUL | FAILED | CANCELLED"

# (table, its time column for TTL or None, CREATE statement with {db} and {ttl})
TABLES: tuple[tuple[str, str | None, str], ...] = (
    (
        "requests",
        "received_at",
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.requests (
    team_id LowCardinality(String),
    request_id String,
    source_id String,
    received_at {TIME},
    method LowCardinality(String),
    path String,
    query String,
    public_url String,
    headers {HEADERS},
    header_raw Array(String) COMMENT 'exact bytes of a header value that is not UTF-8, else empty',
    content_type String,
    body String COMMENT 'the exact bytes received',
    body_size UInt64,
    client_ip Nullable(String),
    verification_method LowCardinality(String),
    verified Bool,
    verification_detail Nullable(String),
    status LowCardinality(String),
    rejection_cause LowCardinality(Nullable(String)),
    replay_of Nullable(String),
    connection_ids Nullable(String) COMMENT 'JSON array, or NULL for every connection',
    search String COMMENT 'lower-cased text that q searches',
    INDEX idx_search search {NGRAMS},
    INDEX idx_source source_id {BLOOM},
    INDEX idx_status status TYPE set(8) GRANULARITY 1,
    INDEX idx_cause rejection_cause TYPE set(32) GRANULARITY 1,
    INDEX idx_received received_at TYPE minmax GRANULARITY 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (team_id, request_id)
{{ttl}} {GRANULARITY}""",
    ),
    (
        "event_log",
        "event_time",
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.event_log (
    team_id LowCardinality(String),
    event_id String,
    event_time {TIME} COMMENT 'the time in the event id: one partition per event',
    request_id String,
    source_id String,
    connection_id String,
    destination_id String,
    fact LowCardinality(String) COMMENT 'CREATED | HELD | ATTEMPT',
    fact_key String,
    at {TIME} COMMENT 'when the fact happened: the latest (at, rank) is the state',
    rank UInt8,
    state LowCardinality(String) COMMENT '{STATE_COMMENT}',
    trigger LowCardinality(String),
    attempt_number UInt32,
    attempt_id String,
    outcome_status Nullable(UInt16),
    outcome_error LowCardinality(Nullable(String)),
    next_due_at Nullable({TIME}),
    event_created_at {TIME},
    INDEX idx_request request_id {BLOOM},
    INDEX idx_source source_id {BLOOM},
    INDEX idx_connection connection_id {BLOOM},
    INDEX idx_destination destination_id {BLOOM}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (team_id, event_id, fact_key)
{{ttl}} {GRANULARITY}""",
    ),
    (
        "event_data",
        "event_time",
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.event_data (
    team_id LowCardinality(String),
    event_id String,
    event_time {TIME},
    request_id String,
    source_id String,
    connection_id String,
    destination_id String,
    source_url String,
    method LowCardinality(String),
    path String,
    query String,
    headers {HEADERS},
    header_raw Array(String),
    content_type String,
    body String COMMENT 'the outgoing body: exact bytes, after any transformation',
    search String,
    INDEX idx_search search {NGRAMS},
    INDEX idx_request request_id {BLOOM}
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (team_id, event_id)
{{ttl}} {GRANULARITY}""",
    ),
    (
        "attempts",
        "created_at",
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.attempts (
    team_id LowCardinality(String),
    attempt_id String,
    event_id String,
    request_id String,
    source_id String,
    connection_id String,
    destination_id String,
    attempt_number UInt32,
    trigger LowCardinality(String),
    status LowCardinality(String),
    requested_url String,
    http_method LowCardinality(String),
    request_headers {HEADERS},
    response_status Nullable(UInt16),
    response_headers {HEADERS},
    response_body String COMMENT 'truncated by the deliverer',
    response_latency_ms Nullable(UInt32),
    error_code LowCardinality(Nullable(String)),
    event_status LowCardinality(String),
    next_attempt_at Nullable({TIME}),
    created_at {TIME},
    INDEX idx_attempt attempt_id {BLOOM},
    INDEX idx_created created_at TYPE minmax GRANULARITY 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (team_id, event_id, attempt_id)
{{ttl}} {GRANULARITY}""",
    ),
    (
        "ignored_events",
        "created_at",
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.ignored_events (
    team_id LowCardinality(String),
    ignored_id String,
    request_id String,
    source_id String,
    connection_id Nullable(String),
    cause LowCardinality(String),
    detail Nullable(String),
    created_at {TIME},
    INDEX idx_request request_id {BLOOM},
    INDEX idx_connection connection_id {BLOOM},
    INDEX idx_cause cause TYPE set(32) GRANULARITY 1
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (team_id, ignored_id)
{{ttl}} {GRANULARITY}""",
    ),
    # Kept whole (no TTL): issues are few, and one still open may be old. One row per issue:
    # its latest version (each change on the issues topic carries the whole issue).
    (
        "issues",
        None,
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.issues (
    team_id LowCardinality(String),
    issue_id String,
    type LowCardinality(String) COMMENT 'delivery | transformation | backpressure',
    status LowCardinality(String) COMMENT 'OPENED | ACKNOWLEDGED | RESOLVED | IGNORED',
    issue_trigger_id String,
    connection_id Nullable(String),
    destination_id Nullable(String),
    source_id Nullable(String),
    response_status Nullable(UInt16) COMMENT 'aggregation key',
    error_code LowCardinality(Nullable(String)) COMMENT 'aggregation key',
    count UInt64,
    first_seen_at {TIME},
    last_seen_at {TIME},
    opened_at {TIME},
    resolved_at Nullable({TIME}),
    updated_at {TIME},
    sample_event_ids Array(String),
    sample_request_ids Array(String),
    detail Nullable(String),
    paused_at Nullable({TIME}),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (team_id, issue_id)""",
    ),
    # Every change of every issue (its timeline): a row per record of the issues topic, the
    # same record read twice is one row. Kept whole, like the issues.
    (
        "issue_changes",
        None,
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.issue_changes (
    team_id LowCardinality(String),
    issue_id String,
    version UInt64,
    actor LowCardinality(String) COMMENT 'job | api',
    change LowCardinality(String) COMMENT 'opened | count | escalated | status | resolved',
    status LowCardinality(String),
    count UInt64,
    changed_at {TIME}
) ENGINE = ReplacingMergeTree
ORDER BY (team_id, issue_id, version, actor)""",
    ),
    # Kept whole (no TTL): the compacted topic holds the current state of every entity. The
    # topic offset orders versions (tombstones have none); is_deleted hides them under FINAL.
    (
        "config",
        None,
        f"""
CREATE TABLE IF NOT EXISTS {{db}}.config (
    entity_id String,
    entity_type LowCardinality(String),
    team_id String,
    version Int64,
    changed_at {TIME},
    entity String COMMENT 'the entity as JSON; secrets stay sealed',
    offset UInt64,
    is_deleted UInt8
) ENGINE = ReplacingMergeTree(offset, is_deleted)
ORDER BY entity_id""",
    ),
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    # (statement with {db} and {ttl}, the TTL time column or None)
    statements: tuple[tuple[str, str | None], ...]


# 4-grams, not 3: ids (ULIDs, Twilio SIDs) put nearly every 3-gram of digits and letters in
# every granule, so a 3-gram filter prunes nothing; 4-grams are sparse enough to skip most.
# (`q` shorter than 4 characters still works: it just reads every granule.)
NGRAMS4 = "TYPE ngrambf_v1(4, 65536, 2, 0) GRANULARITY 1"
SEARCH_INDEX_4 = tuple(
    statement
    for table in ("requests", "event_data")
    for statement in (
        (f"ALTER TABLE {{db}}.{table} ADD INDEX IF NOT EXISTS idx_search4 search {NGRAMS4}", None),
        (f"ALTER TABLE {{db}}.{table} MATERIALIZE INDEX idx_search4", None),
        (f"ALTER TABLE {{db}}.{table} DROP INDEX IF EXISTS idx_search", None),
    )
)

# Additive: rows stored before are NULL in both (the record did not carry them).
PROVIDER_VIEW: tuple[tuple[str, str | None], ...] = (
    (
        "ALTER TABLE {db}.requests ADD COLUMN IF NOT EXISTS event_type "
        "LowCardinality(Nullable(String)) COMMENT 'the provider''s event type "
        "(X-GitHub-Event, Stripe''s type...), NULL where it names none' AFTER connection_ids",
        None,
    ),
    (
        "ALTER TABLE {db}.requests ADD COLUMN IF NOT EXISTS idempotency_key Nullable(String) "
        "COMMENT 'the provider''s delivery id (X-GitHub-Delivery, Stripe''s event id, webhook-id, "
        "I-Twilio-Idempotency-Token...), NULL where it names none' AFTER event_type",
        None,
    ),
    (
        f"ALTER TABLE {{db}}.requests ADD INDEX IF NOT EXISTS idx_event_type event_type {BLOOM}",
        None,
    ),
    (
        "ALTER TABLE {db}.requests ADD INDEX IF NOT EXISTS idx_idempotency_key idempotency_key "
        f"{BLOOM}",
        None,
    ),
    ("ALTER TABLE {db}.requests MATERIALIZE INDEX idx_event_type", None),
    ("ALTER TABLE {db}.requests MATERIALIZE INDEX idx_idempotency_key", None),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables", tuple((ddl, column) for _, column, ddl in TABLES)),
    Migration(2, "views: events, twilio", tuple((ddl, None) for ddl in VIEW_STATEMENTS)),
    Migration(3, "q: 4-gram search index", SEARCH_INDEX_4),
    # Tables made before CANCELLED existed describe it too (DESCRIBE is what analysts read).
    Migration(
        4,
        "event_log.state: CANCELLED",
        ((f"ALTER TABLE {{db}}.event_log COMMENT COLUMN state '{STATE_COMMENT}'", None),),
    ),
    Migration(5, "requests: the provider's event type and idempotency key", PROVIDER_VIEW),
    Migration(6, "issues", tuple((ddl, None) for table, _, ddl in TABLES if table == "issues")),
    Migration(
        7,
        "issue_changes: the issues' timelines",
        tuple((ddl, None) for table, _, ddl in TABLES if table == "issue_changes"),
    ),
)

MIGRATIONS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {{db}}.schema_migrations (
    version UInt32,
    name String,
    applied_at {TIME} DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version"""


def ttl_clause(column: str | None, days: int) -> str:
    return f"TTL toDateTime({column}) + INTERVAL {int(days)} DAY" if column and days > 0 else ""


def render(statement: str, db: str, ttl: str = "") -> str:
    return statement.replace("{db}", ident(db)).replace("{ttl}", ttl)


def migration_statements(
    migration: Migration, db: str, retention_days: int, layout: Layout = SINGLE_NODE
) -> list[str]:
    """What applying `migration` runs, in order, for `layout`."""
    return [
        sql
        for statement, column in migration.statements
        for sql in layout.statements(render(statement, db, ttl_clause(column, retention_days)))
    ]


async def applied_versions(engine: Engine, db: str) -> set[int]:
    rows = await engine.query(f"SELECT DISTINCT version FROM {ident(db)}.schema_migrations")
    return {int(r["version"]) for r in rows}


async def migrate(engine: Engine, db: str, retention_days: int, cluster: str = "") -> list[int]:
    """Bring `db` to the current schema; returns the versions applied now. Idempotent.
    `cluster`: create every table on that ClickHouse cluster (projections.layout)."""
    layout = Layout(cluster)
    try:
        await engine.command(layout.create_database(ident(db)))
        for statement in layout.statements(render(MIGRATIONS_TABLE, db)):
            await engine.command(statement)
        done = await applied_versions(engine, db)
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            for sql in migration_statements(migration, db, retention_days, layout):
                await engine.command(sql)
            await engine.insert(
                f"{ident(db)}.schema_migrations",
                ("version", "name"),
                [(migration.version, migration.name)],
            )
            log.info(
                "migration applied",
                extra={"version": migration.version, "migration": migration.name, "database": db},
            )
            applied.append(migration.version)
        await ensure_retention(engine, db, retention_days, layout)
    except EngineError as exc:
        raise MigrationError(f"cannot migrate ClickHouse database {db}: {exc}") from exc
    return applied


async def ensure_retention(
    engine: Engine, db: str, days: int, layout: Layout = SINGLE_NODE
) -> None:
    """Make each table's TTL match the setting; only an actual change is altered, because
    MODIFY TTL rewrites parts."""
    rows = await engine.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", {"db": db}
    )
    current = {r["name"]: r["engine_full"] for r in rows}
    for table, column, _ in TABLES:
        storage = layout.storage(table)
        if column is None or storage not in current:
            continue
        found = re.search(r"TTL .*?toIntervalDay\((\d+)\)", current[storage])
        have = int(found.group(1)) if found else 0
        if have == max(days, 0):
            continue
        change = ttl_clause(column, days) if days > 0 else ""
        target = f"{ident(db)}.{table}"
        for statement in layout.statements(
            f"ALTER TABLE {target} MODIFY {change}"
            if change
            else f"ALTER TABLE {target} REMOVE TTL"
        ):
            await engine.command(statement)
        log.info("retention changed", extra={"table": table, "days": days})


async def drop_all(engine: Engine, db: str, cluster: str = "") -> None:
    """Drop every projection table and view (for a rebuild); the database stays."""
    tables = (*(table for table, _, _ in TABLES), "schema_migrations")
    for statement in Layout(cluster).drops(ident(db), tuple(reversed(VIEW_NAMES)), tables):
        await engine.command(statement)
