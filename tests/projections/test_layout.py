"""The projections' DDL in both layouts: one server (run here on the real engine) and a cluster
(`FASTHOOK_CLICKHOUSE_CLUSTER`: generated SQL checked, and parsed by the real engine)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest

from api.entities import new_analyst
from projections.analysts.grants import create_user, drop_user
from projections.clickhouse import Engine
from projections.layout import SHARDING_KEYS, Layout
from projections.migrations import (
    MIGRATIONS,
    MIGRATIONS_TABLE,
    TABLES,
    drop_all,
    migrate,
    migration_statements,
    render,
    ttl_clause,
)
from projections.views import VIEW_NAMES

DB = "fh"
CLUSTER = "fasthook"
DAYS = 30


def every_statement(layout: Layout) -> list[str]:
    """What migrating a fresh database runs, after the database and the migrations table."""
    return [
        sql for migration in MIGRATIONS for sql in migration_statements(migration, DB, DAYS, layout)
    ]


def single_node_by_hand() -> list[str]:
    """The statements as the migrations held them before layouts existed."""
    return [
        render(statement, DB, ttl_clause(column, DAYS))
        for migration in MIGRATIONS
        for statement, column in migration.statements
    ]


# --- one server ----------------------------------------------------------------------------


def test_the_single_node_form_is_the_migrations_text_unchanged() -> None:
    assert every_statement(Layout()) == single_node_by_hand()
    assert Layout().statements(render(MIGRATIONS_TABLE, DB)) == [render(MIGRATIONS_TABLE, DB)]
    assert Layout().create_database(DB) == f"CREATE DATABASE IF NOT EXISTS {DB}"
    assert all(
        "ON CLUSTER" not in s and "Replicated" not in s and "Distributed" not in s
        for s in every_statement(Layout())
    )


@pytest.fixture
async def database(engine: Engine) -> AsyncIterator[str]:
    name = f"layout_{uuid.uuid4().hex[:8]}"
    yield name
    await engine.command(f"DROP DATABASE IF EXISTS {name}")


async def test_the_single_node_form_runs_on_the_real_engine(engine: Engine, database: str) -> None:
    assert await migrate(engine, database, DAYS) == [m.version for m in MIGRATIONS]
    assert await migrate(engine, database, DAYS) == []  # idempotent
    rows = await engine.query(
        "SELECT name, engine, engine_full FROM system.tables WHERE database = {db:String}",
        {"db": database},
    )
    engines = {r["name"]: r["engine"] for r in rows}
    for table, column, _ in TABLES:
        assert engines[table] == "ReplacingMergeTree"
        full = next(r["engine_full"] for r in rows if r["name"] == table)
        assert ("TTL" in full) == (column is not None)
    assert {engines[view] for view in VIEW_NAMES} == {"View"}
    assert not any(name.endswith("_local") for name in engines)
    await drop_all(engine, database)
    left = await engine.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": database}
    )
    assert left == []


# --- a cluster -----------------------------------------------------------------------------


def cluster_statements() -> list[str]:
    layout = Layout(CLUSTER)
    return [
        layout.create_database(DB),
        *layout.statements(render(MIGRATIONS_TABLE, DB)),
        *every_statement(layout),
    ]


def created(statements: list[str], name: str) -> str:
    """The statement creating `name` (a later migration may repeat it: IF NOT EXISTS)."""
    found = {s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {DB}.{name} ")}
    assert len(found) == 1, found
    return found.pop()


def test_every_statement_runs_on_the_cluster() -> None:
    statements = cluster_statements()
    assert all(f" ON CLUSTER '{CLUSTER}'" in s for s in statements)


def test_each_table_is_a_replicated_local_table_and_a_distributed_one_sharded_by_its_id() -> None:
    statements = cluster_statements()
    for table, column, single in TABLES:
        local = created(statements, f"{table}_local")
        engine = re.search(r"ENGINE = (\w+)", single)
        assert engine is not None
        assert (
            f"ENGINE = Replicated{engine[1]}('/clickhouse/tables/{{shard}}/{DB}/"
            f"{table}_local', '{{replica}}'" in local
        )
        # The same sort key (which deduplicates), and the TTL on the rows' own table.
        order_by = re.search(r"ORDER BY \(?([^)\n]*)", single)
        assert order_by is not None and f"ORDER BY {order_by[0][len('ORDER BY ') :]}" in local
        assert ("TTL toDateTime(" in local) == (column is not None)
        key = SHARDING_KEYS[table]
        assert key in order_by[1]  # every row FINAL compares lands on one shard
        assert created(statements, table) == (
            f"CREATE TABLE IF NOT EXISTS {DB}.{table} ON CLUSTER '{CLUSTER}' AS "
            f"{DB}.{table}_local ENGINE = Distributed('{CLUSTER}', '{DB}', "
            f"'{table}_local', cityHash64({key}))"
        )
    assert set(SHARDING_KEYS) == {table for table, _, _ in TABLES}


def test_the_version_column_stays_the_replacing_engines_argument() -> None:
    statements = cluster_statements()
    assert "'{replica}', offset, is_deleted)" in created(statements, "config_local")
    assert "'{replica}', version)" in created(statements, "issues_local")


def test_the_migrations_table_is_replicated_to_every_node_without_distributed() -> None:
    statements = cluster_statements()
    migrations = created(statements, "schema_migrations")
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/all/fh/schema_migrations', "
        "'{shard}-{replica}')"
    ) in migrations
    assert not any("schema_migrations_local" in s for s in statements)


def test_views_read_the_distributed_tables_on_every_node() -> None:
    statements = cluster_statements()
    for view in VIEW_NAMES:
        [statement] = [s for s in statements if f"VIEW IF NOT EXISTS {DB}.{view} " in s]
        assert statement.lstrip().startswith(
            f"CREATE VIEW IF NOT EXISTS {DB}.{view} ON CLUSTER '{CLUSTER}' AS"
        )
        assert "_local" not in statement


def test_alters_change_the_rows_table_and_columns_also_the_distributed_one() -> None:
    layout = Layout(CLUSTER)
    column = layout.statements(f"ALTER TABLE {DB}.requests ADD COLUMN IF NOT EXISTS x String")
    assert column == [
        f"ALTER TABLE {DB}.requests_local ON CLUSTER '{CLUSTER}' ADD COLUMN IF NOT EXISTS x String",
        f"ALTER TABLE {DB}.requests ON CLUSTER '{CLUSTER}' ADD COLUMN IF NOT EXISTS x String",
    ]
    index = layout.statements(f"ALTER TABLE {DB}.requests MATERIALIZE INDEX idx_search4")
    assert index == [
        f"ALTER TABLE {DB}.requests_local ON CLUSTER '{CLUSTER}' MATERIALIZE INDEX idx_search4"
    ]
    ttl = layout.statements(f"ALTER TABLE {DB}.attempts REMOVE TTL")
    assert ttl == [f"ALTER TABLE {DB}.attempts_local ON CLUSTER '{CLUSTER}' REMOVE TTL"]
    assert (
        layout.storage("attempts") == "attempts_local"
        and Layout().storage("attempts") == "attempts"
    )


def test_drops_remove_views_then_both_tables_on_every_node() -> None:
    drops = Layout(CLUSTER).drops(DB, ("events",), ("requests", "schema_migrations"))
    assert drops == [
        f"DROP VIEW IF EXISTS {DB}.events ON CLUSTER '{CLUSTER}'",
        f"DROP TABLE IF EXISTS {DB}.requests ON CLUSTER '{CLUSTER}' SYNC",
        f"DROP TABLE IF EXISTS {DB}.requests_local ON CLUSTER '{CLUSTER}' SYNC",
        f"DROP TABLE IF EXISTS {DB}.schema_migrations ON CLUSTER '{CLUSTER}' SYNC",
    ]


def test_a_statement_with_no_cluster_form_is_refused_not_run_on_one_node() -> None:
    with pytest.raises(ValueError):
        Layout(CLUSTER).statements(f"INSERT INTO {DB}.requests VALUES")


async def test_the_real_engine_parses_every_cluster_statement(engine: Engine) -> None:
    """No cluster here to run them on; the engine's own parser reads each one (formatQuery
    raises on a syntax error) and its canonical form keeps what the layout put in."""
    for statement in cluster_statements():
        [row] = await engine.query(
            "SELECT formatQuery({sql:String}) AS formatted", {"sql": statement}
        )
        formatted = row["formatted"]
        assert f"ON CLUSTER {CLUSTER}" in formatted or f"ON CLUSTER '{CLUSTER}'" in formatted
        if "Distributed(" in statement:
            assert "cityHash64(" in formatted


async def test_the_real_engine_parses_the_cluster_form_of_analysts_grants(
    engine: Engine,
) -> None:
    _, analyst = new_analyst("ann", "tm_A1")
    on = Layout(CLUSTER).on_cluster
    statements = create_user(analyst, DB, {"max_threads": 1}, ["requests"], on)
    statements += drop_user(analyst, DB, ["requests"], on)
    for statement in statements:
        [row] = await engine.query(
            "SELECT formatQuery({sql:String}) AS formatted", {"sql": statement}
        )
        formatted = row["formatted"]
        assert f"ON CLUSTER {CLUSTER}" in formatted or f"ON CLUSTER '{CLUSTER}'" in formatted


def test_a_cluster_client_inserts_synchronously_and_subqueries_globally() -> None:
    assert Layout("").client_settings() == {}
    assert Layout("fasthook").client_settings() == {
        "insert_distributed_sync": 1,
        "distributed_product_mode": "global",
    }
