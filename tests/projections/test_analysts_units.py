"""The analysts' pure parts: the statement check, the HTTP protocol, team views, production
grants and the credential view."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.entities import new_analyst
from projections.analysts.credentials import AnalystView, authenticate
from projections.analysts.grants import create_user, drop_user
from projections.analysts.protocol import (
    ClickHouseFailure,
    Credentials,
    content_type,
    credentials,
    escape_param,
    incoming,
    output_format,
    session_settings,
)
from projections.analysts.scope import Relation, team_database, team_views
from projections.analysts.statements import Scope, check, parse_ast
from schemas.entities import config_record

SELECT_FROM = """SelectWithUnionQuery (children 1)
 ExpressionList (children 1)
  SelectQuery (children 2)
   ExpressionList (children 1)
    Asterisk
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      {table}
"""
SCOPED = Scope("fh_tm_a", frozenset({"fh", "fh_tm_a", "fh_tm_b", "system", "default"}), "fh")


def select_from(table: str) -> str:
    return SELECT_FROM.format(table=table)


def test_ast_text_becomes_a_tree() -> None:
    tree = parse_ast(select_from("TableIdentifier fh.requests (alias r)"))
    [statement] = tree.children
    table = statement.children[0].children[0].children[1].children[0].children[0].children[0]
    assert (statement.kind, table.kind, table.name) == (
        "SelectWithUnionQuery",
        "TableIdentifier",
        "fh.requests",
    )
    assert table.parent is not None and table.parent.kind == "TableExpression"


@pytest.mark.parametrize(
    "table, allowed",
    [
        ("TableIdentifier requests", True),
        ("TableIdentifier fh_tm_a.requests", True),
        ("TableIdentifier system.settings", True),
        ("TableIdentifier fh.requests", False),
        ("TableIdentifier fh_tm_b.requests", False),
        ("TableIdentifier system.tables", False),
        ("TableIdentifier system.query_log", False),
        ("Function numbers (children 1)", True),
        ("Function merge (children 1)", False),
        ("Function url (children 1)", False),
        ("Function FILE (children 1)", False),
    ],
)
def test_a_scoped_analyst_names_only_its_team(table: str, allowed: bool) -> None:
    refusal = check(select_from(table), "SELECT * FROM x", SCOPED)
    assert (refusal is None) == allowed, refusal
    if table.startswith("TableIdentifier"):
        assert check(select_from(table), "SELECT * FROM x", Scope()) is None  # unscoped


def test_statement_kinds_and_ways_out() -> None:
    unscoped = Scope()
    assert check("InsertQuery (children 1)\n Identifier t\n", "INSERT INTO t", unscoped).code == 164
    assert check("ShowProcesslistQuery\n", "SHOW PROCESSLIST", unscoped) is None
    assert check("ShowProcesslistQuery\n", "SHOW PROCESSLIST", SCOPED).code == 164
    assert check("ShowTables\n", "SHOW DATABASES", SCOPED).code == 497
    assert check("ShowTables\n", "SHOW TABLES", SCOPED) is None
    outfile = (
        "SelectWithUnionQuery (children 2)\n ExpressionList (children 1)\n"
        "  SelectQuery (children 1)\n   ExpressionList (children 1)\n"
        "    Literal UInt64_1\n Literal '/tmp/x'\n"
    )
    assert check(outfile, "SELECT 1 INTO OUTFILE '/tmp/x'", unscoped).code == 497
    scalar = (
        "SelectWithUnionQuery (children 1)\n ExpressionList (children 1)\n"
        "  SelectQuery (children 1)\n   ExpressionList (children 1)\n"
        "    Function dictGetString (children 1)\n"
    )
    assert check(scalar, "SELECT dictGetString()", unscoped).code == 497
    in_table = (
        "SelectWithUnionQuery (children 1)\n ExpressionList (children 1)\n"
        "  SelectQuery (children 1)\n   Function in (children 1)\n"
        "    ExpressionList (children 2)\n     Literal 'x'\n     Identifier fh.requests\n"
    )
    assert check(in_table, "SELECT 'x' IN fh.requests", SCOPED).code == 497
    newer = in_table.replace("fh.requests", "fh_tm_new.requests")  # made after the listing
    assert check(newer, "SELECT 'x' IN fh_tm_new.requests", SCOPED).code == 497
    assert check(newer, "…", Scope("fh_tm_a", frozenset({"fh_tm_a"}))) is None
    assert check(in_table, "SELECT 'x' IN fh.requests", unscoped) is None


def test_credentials_from_the_three_places() -> None:
    basic = "Basic " + base64.b64encode(b"ann:p:w").decode()
    assert credentials({"Authorization": basic}, {}) == Credentials("ann", "p:w")
    assert credentials(
        {"X-ClickHouse-User": "bo", "X-ClickHouse-Key": "k"}, {"user": "x"}
    ) == Credentials("bo", "k")
    assert credentials({}, {"user": "cy", "password": "z"}) == Credentials("cy", "z")
    assert credentials({}, {}) is None
    assert credentials({"Authorization": "Basic !!"}, {}) is None


def test_query_parameter_body_and_options() -> None:
    asked = incoming(
        {
            "query": "SELECT",
            "database": "d",
            "param_x": "1",
            "output_format_json_quote_64bit_integers": "1",
            "session_id": "s",
        },
        b"1 AS one",
        {},
    )
    assert (asked.sql, asked.database, asked.params, asked.settings, asked.default_format) == (
        "SELECT\n1 AS one",
        "d",
        {"x": "1"},
        {"output_format_json_quote_64bit_integers": "1"},
        "TabSeparated",
    )
    with pytest.raises(ClickHouseFailure):
        incoming({}, b"\xff", {})
    with pytest.raises(ClickHouseFailure) as raised:
        incoming({"compress": "1"}, b"SELECT 1", {})
    assert (raised.value.code, raised.value.status) == (48, 501)
    assert incoming(
        {"enable_http_compression": "1"}, b"SELECT 1", {"Accept-Encoding": "gzip"}
    ).compress


def test_settings_may_lower_limits_and_choose_presentation_only() -> None:
    limits = {"max_execution_time": 30, "max_result_rows": 100}
    assert session_settings(
        {
            "max_execution_time": "5",
            "max_result_rows": "1000",
            "output_format_json_quote_64bit_integers": "0",
        },
        limits,
    ) == {
        "max_execution_time": "5",
        "max_result_rows": "100",
        "output_format_json_quote_64bit_integers": "0",
    }
    for name in ("readonly", "allow_ddl", "max_memory_usage"):
        if name == "max_memory_usage":
            assert session_settings({name: "1"}, limits) == {k: str(v) for k, v in limits.items()}
            continue
        with pytest.raises(ClickHouseFailure) as raised:
            session_settings({name: "1"}, limits)
        assert raised.value.code == 164


def test_formats_and_errors_in_clickhouse_shape() -> None:
    assert output_format("SELECT 1\nFORMAT JSONEachRow", "TabSeparated") == "JSONEachRow"
    assert output_format("SELECT 'FORMAT JSON' AS x", "CSV") == "CSV"
    assert content_type("JSONEachRow").startswith("application/x-ndjson")
    assert content_type("Native") == "application/octet-stream"
    failure = ClickHouseFailure.from_engine(
        "Code: 159. DB::Exception: Timeout exceeded: elapsed 1.0 ms, maximum: 1.0 ms. "
        "(TIMEOUT_EXCEEDED)"
    )
    assert (failure.code, failure.name, failure.status) == (159, "TIMEOUT_EXCEEDED", 500)
    assert failure.body("26.9") == (
        "Code: 159. DB::Exception: Timeout exceeded: elapsed 1.0 "
        "ms, maximum: 1.0 ms. (TIMEOUT_EXCEEDED) (version 26.9)\n"
    )


def unescape(escaped: str) -> str:
    """How the engine reads an escaped (TSV-style) parameter value."""
    out, chars = [], iter(escaped)
    for char in chars:
        out.append(
            {"n": "\n", "t": "\t", "r": "\r"}.get(next(chars), "\\") if char == "\\" else char
        )
    return "".join(out)


@given(st.text())
def test_escaped_parameters_round_trip(text: str) -> None:
    escaped = escape_param(text)
    assert "\n" not in escaped and "\t" not in escaped
    assert unescape(escaped) == text


def test_team_views_filter_and_deduplicate() -> None:
    statements = team_views(
        "fh", "tm_A1", [Relation("requests", "ReplacingMergeTree"), Relation("events", "View")]
    )
    assert statements == [
        "CREATE DATABASE IF NOT EXISTS fh_tm_A1",
        "CREATE OR REPLACE VIEW fh_tm_A1.events AS SELECT * FROM fh.events WHERE team_id = 'tm_A1'",
        "CREATE OR REPLACE VIEW fh_tm_A1.requests AS SELECT * FROM fh.requests FINAL "
        "WHERE team_id = 'tm_A1'",
    ]
    with pytest.raises(ValueError):
        team_database("fh", "tm_x'; DROP")


def test_production_users_grants_and_row_policies() -> None:
    password, analyst = new_analyst("ann", "tm_A1")
    limits = {"max_execution_time": 30, "max_result_rows": 1000}
    assert create_user(analyst, "fh", limits, ["requests", "attempts"]) == [
        f"CREATE USER IF NOT EXISTS ann IDENTIFIED WITH sha256_hash BY '{analyst['hash']}' "
        "DEFAULT DATABASE fh SETTINGS max_execution_time = 30, max_result_rows = 1000, "
        "result_overflow_mode = 'throw', readonly = 1",
        "GRANT SELECT ON fh.* TO ann",
        "CREATE ROW POLICY OR REPLACE fasthook_analyst_ann ON fh.attempts, fh.requests "
        "FOR SELECT USING team_id = 'tm_A1' TO ann",
    ]
    assert drop_user(analyst, "fh", ["requests"]) == [
        "DROP ROW POLICY IF EXISTS fasthook_analyst_ann ON fh.requests",
        "DROP USER IF EXISTS ann",
    ]
    unscoped = {**analyst, "team_id": None}
    assert len(create_user(unscoped, "fh", limits, ["requests"])) == 2
    assert password not in json.dumps(create_user(analyst, "fh", limits, ["requests"]))
    with pytest.raises(ValueError):
        create_user({**analyst, "name": "x; DROP"}, "fh", limits, [])
    with pytest.raises(ValueError):
        new_analyst("1bad", None)


def test_on_a_cluster_every_user_grant_and_policy_reaches_every_node() -> None:
    # A load balancer may send the analyst to any node, and a Distributed query reads each
    # shard's local table: the user, its grant and its policy must exist on all of them.
    _, analyst = new_analyst("ann", "tm_A1")
    on = " ON CLUSTER 'fasthook'"
    made = create_user(analyst, "fh", {"max_threads": 1}, ["requests", "requests_local"], on)
    assert made[0].startswith("CREATE USER IF NOT EXISTS ann ON CLUSTER 'fasthook' IDENTIFIED")
    assert made[1] == "GRANT ON CLUSTER 'fasthook' SELECT ON fh.* TO ann"
    assert made[2] == (
        "CREATE ROW POLICY OR REPLACE fasthook_analyst_ann ON CLUSTER 'fasthook' "
        "ON fh.requests, fh.requests_local FOR SELECT USING team_id = 'tm_A1' TO ann"
    )
    assert drop_user(analyst, "fh", ["requests"], on) == [
        "DROP ROW POLICY IF EXISTS fasthook_analyst_ann ON fh.requests ON CLUSTER 'fasthook'",
        "DROP USER IF EXISTS ann ON CLUSTER 'fasthook'",
    ]


def test_the_view_follows_creation_and_revocation() -> None:
    changes: list[tuple[str, bool]] = []
    view = AnalystView(lambda entity, active: changes.append((entity["name"], active)))
    password, analyst = new_analyst("ann", None)
    view.apply(analyst["id"], config_record("analyst", analyst, version=1))
    view.apply("tm_1", config_record("team", {"id": "tm_1"}, version=1))
    assert authenticate(view, Credentials("ann", password))["id"] == analyst["id"]
    for wrong in (Credentials("ann", "nope"), Credentials("bob", password), None):
        with pytest.raises(ClickHouseFailure) as raised:
            authenticate(view, wrong)
        assert raised.value.status == 401
    view.apply(analyst["id"], config_record("analyst", {**analyst, "revoked_at": "t"}, version=2))
    assert view.get("ann") is None and len(view) == 0
    assert changes == [("ann", True), ("ann", False)]
