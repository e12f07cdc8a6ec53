"""A team-scoped analyst's world: one database per team holding a view of every table that has
`team_id`, each filtered to the team (pure DDL; `runner` applies it).

Replacing tables are read `FINAL` inside the view, because `FINAL` written on a view does not
reach the table under it: the analyst's documented queries (`FROM requests FINAL`) then give
the same deduplicated answer on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_TEAM_ID = re.compile(r"^[A-Za-z0-9_]{1,100}$")


@dataclass(frozen=True, slots=True)
class Relation:
    name: str
    engine: str  # system.tables' engine: ReplacingMergeTree, View, MergeTree, …


def team_database(database: str, team_id: str) -> str:
    if not _TEAM_ID.match(team_id):
        raise ValueError(f"{team_id!r} is not a team id")
    return f"{database}_{team_id}"


def team_views(database: str, team_id: str, relations: Iterable[Relation]) -> list[str]:
    """Statements creating (or refreshing) the team's database and views."""
    target = team_database(database, team_id)
    statements = [f"CREATE DATABASE IF NOT EXISTS {target}"]
    for relation in sorted(relations, key=lambda r: r.name):
        final = " FINAL" if relation.engine.startswith("Replacing") else ""
        statements.append(
            f"CREATE OR REPLACE VIEW {target}.{relation.name} AS SELECT * FROM "
            f"{database}.{relation.name}{final} WHERE team_id = '{team_id}'"
        )
    return statements


RELATIONS_SQL = """
SELECT t.name AS name, t.engine AS engine
FROM system.tables AS t
WHERE t.database = {db:String}
  AND t.name IN (SELECT table FROM system.columns WHERE database = {db:String}
                 AND name = 'team_id')
"""
