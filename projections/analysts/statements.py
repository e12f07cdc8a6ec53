"""Which analyst statements may run: a pure check over ClickHouse's own parse of the query.

The engine parses the statement (`formatQuery`, which also refuses multi-statements, then
`EXPLAIN AST` of its canonical text), so this check and the execution agree on what the query
is; no SQL lexer of ours can be fooled by a quote the engine reads differently. `readonly=1` on
the analyst's engine handle refuses writes, settings changes and most table functions on its
own; this check adds what readonly lets through in chdb (the `file()` function, `INTO OUTFILE`,
`merge()`, `KILL`, `USE`) and, for a team-scoped analyst, every way to name data outside the
team's database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# ClickHouse's own error codes, so clients show the refusal like the server's.
READONLY = 164
ACCESS_DENIED = 497

# Statement kinds (the AST's root) an analyst may run.
READ_STATEMENTS = frozenset(
    {
        "SelectWithUnionQuery",
        "SelectIntersectExceptQuery",
        "SelectQuery",
        "DescribeQuery",
        "ExistsTableQuery",
        "ExistsViewQuery",
        "ExistsDatabaseQuery",
        "ShowTables",
        "ShowColumns",
        "ShowCreateTableQuery",
        "ShowCreateViewQuery",
        "ShowProcesslistQuery",
        "Explain",
    }
)
# A team-scoped analyst: no processlist (other analysts' queries carry their literals).
SCOPED_STATEMENTS = READ_STATEMENTS - {"ShowProcesslistQuery", "ExistsDatabaseQuery"}

# Table functions that generate data and reach nothing (no files, hosts, or other tables).
SAFE_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "generate_series",
        "generateseries",
        "values",
        "null",
        "generaterandom",
    }
)
# Ordinary functions that read files, models, dictionaries or other tables.
UNSAFE_FUNCTIONS = frozenset(
    {
        "file",
        "catboostevaluate",
        "naivebayesclassifier",
        "joinget",
        "joingetornull",
        "hascolumnintable",
        "hascolumnintablestrict",
    }
)
UNSAFE_PREFIXES = ("dict",)  # dictGet*, dictHas, dictIsIn, …

# System tables with no team's data: what client libraries read while connecting
# (clickhouse-connect reads system.settings) and reference tables.
SCOPED_SYSTEM_TABLES = frozenset(
    {
        "settings",
        "functions",
        "data_type_families",
        "formats",
        "time_zones",
        "one",
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "table_functions",
        "table_engines",
        "build_options",
        "collations",
        "aggregate_function_combinators",
        "keywords",
        "contributors",
        "licenses",
    }
)

_NODE = re.compile(r"^(?P<indent> *)(?P<kind>\w+)(?: (?P<name>[^ (]+))?")


@dataclass
class Node:
    kind: str
    name: str
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    code: int
    name: str
    message: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Who asks: `team_database` None is an unscoped analyst (every table); else the only
    database (and the few system tables above) the analyst may name. `databases` are every
    database the engine holds, so a qualified column can be told from a qualified table."""

    team_database: str | None = None
    databases: frozenset[str] = frozenset()
    # The deployment's database: every team database is named after it, so a name with its
    # prefix is refused even if its database appeared after `databases` was read.
    main: str = ""


def parse_ast(text: str) -> Node:
    """`EXPLAIN AST` output (one node per line, one space of indent per level) as a tree."""
    root = Node("", "")
    stack: list[tuple[int, Node]] = [(-1, root)]
    for line in text.splitlines():
        match = _NODE.match(line)
        if not match or not line.strip():
            continue
        depth = len(match["indent"])
        while stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1]
        node = Node(match["kind"], match["name"] or "", parent=parent)
        parent.children.append(node)
        stack.append((depth, node))
    return root


def walk(node: Node) -> Iterable[Node]:
    for child in node.children:
        yield child
        yield from walk(child)


def check(ast_text: str, formatted: str, scope: Scope) -> Refusal | None:
    """None when the statement may run for this analyst, else ClickHouse's kind of refusal."""
    tree = parse_ast(ast_text)
    if len(tree.children) != 1:
        return Refusal(READONLY, "READONLY", "exactly one statement per query")
    statement = tree.children[0]
    allowed = READ_STATEMENTS if scope.team_database is None else SCOPED_STATEMENTS
    if statement.kind not in allowed:
        return Refusal(
            READONLY, "READONLY", f"analysts are read-only: {_verb(formatted)} cannot run here"
        )
    for node in walk(tree):
        refusal = _node_refusal(node, scope)
        if refusal is not None:
            return refusal
    if (
        scope.team_database is not None
        and statement.kind == "ShowTables"
        and not formatted.lstrip().upper().startswith("SHOW TABLES")
    ):
        return Refusal(
            ACCESS_DENIED,
            "ACCESS_DENIED",
            "a team-scoped analyst sees its team's tables only (SHOW TABLES)",
        )
    return None


def _node_refusal(node: Node, scope: Scope) -> Refusal | None:
    if node.kind == "SelectWithUnionQuery" and any(c.kind == "Literal" for c in node.children):
        return Refusal(ACCESS_DENIED, "ACCESS_DENIED", "INTO OUTFILE is not allowed")
    if node.kind == "Function":
        name = node.name.lower()
        in_from = node.parent is not None and node.parent.kind == "TableExpression"
        if in_from and name not in SAFE_TABLE_FUNCTIONS:
            return Refusal(
                ACCESS_DENIED,
                "ACCESS_DENIED",
                f"table function {node.name}() is not allowed for analysts",
            )
        if not in_from and (name in UNSAFE_FUNCTIONS or name.startswith(UNSAFE_PREFIXES)):
            return Refusal(
                ACCESS_DENIED,
                "ACCESS_DENIED",
                f"function {node.name}() is not allowed for analysts",
            )
    if scope.team_database is None:
        return None
    if node.kind == "TableIdentifier" and not _table_visible(node.name, scope):
        return Refusal(
            ACCESS_DENIED, "ACCESS_DENIED", f"{node.name} is outside this analyst's team database"
        )
    if node.kind == "Identifier":
        # `x IN db.t`, `SHOW CREATE TABLE db.t`, `EXISTS db.t`: a table named outside FROM.
        database = node.name.split(".", 1)[0]
        named = bool(scope.main) and database.startswith(scope.main)
        known = database in scope.databases or named
        if known and database != scope.team_database:
            return Refusal(
                ACCESS_DENIED,
                "ACCESS_DENIED",
                f"{node.name} is outside this analyst's team database",
            )
    return None


def _table_visible(name: str, scope: Scope) -> bool:
    parts = name.split(".")
    if len(parts) == 1:
        return True  # resolves in the current database (the team's) or names a CTE
    if len(parts) != 2:
        return False
    database, table = parts
    if database == scope.team_database:
        return True
    return database == "system" and table in SCOPED_SYSTEM_TABLES


def _verb(formatted: str) -> str:
    words = formatted.split()
    return " ".join(words[:2]).upper() if words else "an empty query"
