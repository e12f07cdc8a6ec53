"""Where the projections' tables live, as DDL: one ClickHouse server, or a cluster
(`FASTHOOK_CLICKHOUSE_CLUSTER`). Pure functions of the single-node statements.

On a cluster every table `T` becomes two, created `ON CLUSTER`:
- `T_local`, a `Replicated*MergeTree` (same columns, sort key, TTL and indexes) holding one
  shard's rows, replicated between that shard's replicas;
- `T`, a `Distributed` table over every shard's `T_local`, sharded by the record's own id.

Queries, views and inserts keep naming `T`, so they are the same in both modes. The sharding
key is the id the sort key deduplicates on (a request, an event with all its facts and
attempts, an issue, a config entity), so every row a `FINAL` or an `argMax` must compare sits
on one shard and each shard's answer is already right.

The migrations table is replicated to every node of the cluster (one replication group, no
shard in its path): any node may be asked which migrations ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The id each table's rows are deduplicated on (its sort key after team_id).
SHARDING_KEYS: dict[str, str] = {
    "requests": "request_id",
    "event_log": "event_id",
    "event_data": "event_id",
    "attempts": "event_id",
    "ignored_events": "ignored_id",
    "issues": "issue_id",
    "issue_changes": "issue_id",
    "config": "entity_id",
}
LOCAL = "_local"
# ZooKeeper/Keeper paths use the server's macros: each node defines {shard} and {replica}.
TABLE_PATH = "/clickhouse/tables/{shard}/%s/%s"
EVERY_NODE_PATH = "/clickhouse/tables/all/%s/%s"
# Replica names are unique per shard; a table replicated to every node needs one unique per node.
REPLICA = "{replica}"
EVERY_NODE_REPLICA = "{shard}-{replica}"
# Statements whose change a Distributed table must mirror (its columns); the rest (indexes,
# TTL, data) only concern the tables holding the rows.
COLUMN_CHANGES = ("ADD COLUMN", "DROP COLUMN", "MODIFY COLUMN", "COMMENT COLUMN", "RENAME COLUMN")

_CREATE_TABLE = re.compile(
    r"^\s*CREATE TABLE IF NOT EXISTS (?P<db>\w+)\.(?P<table>\w+) \((?P<body>.*)\) "
    r"ENGINE = (?P<engine>\w+)(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$",
    re.DOTALL,
)
_ALTER_TABLE = re.compile(r"^\s*ALTER TABLE (?P<db>\w+)\.(?P<table>\w+) (?P<clause>.*)$", re.DOTALL)
_CREATE_VIEW = re.compile(
    r"^\s*CREATE VIEW IF NOT EXISTS (?P<db>\w+)\.(?P<view>\w+) AS\b", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class Layout:
    """`cluster`: the name in the servers' `remote_servers`; empty for one server."""

    cluster: str = ""

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {quote(self.cluster)}" if self.cluster else ""

    def client_settings(self) -> dict[str, int | str]:
        """What the client sets per session: on a cluster, an insert into a Distributed table
        returns once every shard has it (read-your-writes for the projector's checkpoints), and
        subqueries over Distributed tables run once, globally."""
        if not self.cluster:
            return {}
        return {"insert_distributed_sync": 1, "distributed_product_mode": "global"}

    def storage(self, table: str) -> str:
        """The table that holds `table`'s rows (and its TTL) on each node."""
        return table + LOCAL if self.cluster else table

    def statements(self, statement: str) -> list[str]:
        """A rendered single-node statement as this layout runs it (unchanged on one server)."""
        if not self.cluster:
            return [statement]
        if (create := _CREATE_TABLE.match(statement)) is not None:
            return self._create_table(**create.groupdict())
        if (alter := _ALTER_TABLE.match(statement)) is not None:
            return self._alter_table(**alter.groupdict())
        if (view := _CREATE_VIEW.match(statement)) is not None:
            name = f"{view['db']}.{view['view']}"
            return [statement.replace(name, name + self.on_cluster, 1)]
        raise ValueError(f"no cluster form for: {statement.strip()[:80]}")

    def _create_table(
        self, db: str, table: str, body: str, engine: str, args: str | None, rest: str
    ) -> list[str]:
        local = table + LOCAL
        if table in SHARDING_KEYS:
            path, replica = TABLE_PATH % (db, local), REPLICA
        else:
            path, replica = EVERY_NODE_PATH % (db, table), EVERY_NODE_REPLICA
            local = table
        replicated = ", ".join([quote(path), quote(replica), *([args] if args else [])])
        statements = [
            f"CREATE TABLE IF NOT EXISTS {db}.{local}{self.on_cluster} ({body}) "
            f"ENGINE = Replicated{engine}({replicated}){rest}"
        ]
        if table in SHARDING_KEYS:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{table}{self.on_cluster} AS {db}.{local} "
                f"ENGINE = Distributed({quote(self.cluster)}, {quote(db)}, {quote(local)}, "
                f"cityHash64({SHARDING_KEYS[table]}))"
            )
        return statements

    def _alter_table(self, db: str, table: str, clause: str) -> list[str]:
        statements = [f"ALTER TABLE {db}.{self.storage(table)}{self.on_cluster} {clause}"]
        if table in SHARDING_KEYS and clause.lstrip().upper().startswith(COLUMN_CHANGES):
            statements.append(f"ALTER TABLE {db}.{table}{self.on_cluster} {clause}")
        return statements

    def create_database(self, db: str) -> str:
        return f"CREATE DATABASE IF NOT EXISTS {db}{self.on_cluster}"

    def drops(self, db: str, views: tuple[str, ...], tables: tuple[str, ...]) -> list[str]:
        """Every view, then every table (a Distributed one before the rows it reads)."""
        drops = [f"DROP VIEW IF EXISTS {db}.{view}{self.on_cluster}" for view in views]
        for table in tables:
            drops.append(f"DROP TABLE IF EXISTS {db}.{table}{self.on_cluster} SYNC")
            if self.cluster and table in SHARDING_KEYS:
                drops.append(f"DROP TABLE IF EXISTS {db}.{table}{LOCAL}{self.on_cluster} SYNC")
        return drops


def quote(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
