"""Production parity: against a ClickHouse server an analyst is a real ClickHouse user with the
endpoint's own limits, `readonly = 1`, and row policies for its team (pure SQL; the projections
service runs it when the analyst appears or is revoked on the config log).

The password travels nowhere: the config log holds its SHA-256, which is exactly what
`IDENTIFIED WITH sha256_hash BY '<hex>'` takes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from schemas.entities import Analyst

_USER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_TEAM = re.compile(r"^[A-Za-z0-9_]{1,100}$")


def policy_name(user: str) -> str:
    return f"fasthook_analyst_{user}"


def create_user(
    analyst: Analyst,
    database: str,
    limits: Mapping[str, int],
    team_tables: Sequence[str],
    on_cluster: str = "",
) -> list[str]:
    """CREATE USER (readonly, limited) and its grants; a team-scoped analyst also gets one
    row policy over every table that has `team_id` (views read through them: a normal view
    runs as its invoker). `on_cluster` (the layout's ` ON CLUSTER name`, or nothing) makes
    each statement reach every node: a load balancer may send the analyst to any of them,
    and a Distributed query reads each shard's local table under the same policy."""
    user, digest, team = analyst["name"], analyst["hash"], analyst.get("team_id")
    if not _USER.match(user) or not _HEX.match(digest) or (team and not _TEAM.match(team)):
        raise ValueError("analyst name, hash or team is not plain")
    settings = ", ".join(
        [f"{name} = {int(value)}" for name, value in sorted(limits.items())]
        + ["result_overflow_mode = 'throw'", "readonly = 1"]
    )
    statements = [
        f"CREATE USER IF NOT EXISTS {user}{on_cluster} IDENTIFIED WITH sha256_hash BY "
        f"'{digest}' DEFAULT DATABASE {database} SETTINGS {settings}",
        f"GRANT{on_cluster} SELECT ON {database}.* TO {user}",
    ]
    if team:
        tables = ", ".join(f"{database}.{table}" for table in sorted(team_tables))
        statements.append(
            f"CREATE ROW POLICY OR REPLACE {policy_name(user)}{on_cluster} ON {tables} "
            f"FOR SELECT USING team_id = '{team}' TO {user}"
        )
    return statements


def drop_user(
    analyst: Analyst, database: str, team_tables: Sequence[str], on_cluster: str = ""
) -> list[str]:
    user = analyst["name"]
    if not _USER.match(user):
        raise ValueError("analyst name is not plain")
    statements = []
    if analyst.get("team_id") and team_tables:
        tables = ", ".join(f"{database}.{table}" for table in sorted(team_tables))
        statements.append(f"DROP ROW POLICY IF EXISTS {policy_name(user)} ON {tables}{on_cluster}")
    statements.append(f"DROP USER IF EXISTS {user}{on_cluster}")
    return statements
