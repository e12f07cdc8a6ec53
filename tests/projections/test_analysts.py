"""The analysts' endpoint on a running projections service (real projector, real chdb, real
clickhouse-connect): it reads the live tables, refuses every write and every way out, bounds
each statement, authenticates, keeps a team to its rows, and never holds up the projector."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import clickhouse_connect
import pytest

from api.admin import admin_session
from projections.keys import DATABASE
from runtime.settings import Settings
from tests.projections.analysts_support import (
    client,
    http_query,
    make_analyst,
    make_team,
    refused,
    rows,
)
from tests.projections.conftest import Service
from tests.projections.records import publish, request_record
from tests.support.poll import eventually


async def seeded(service: Service, producer, team_a: str, team_b: str) -> None:
    """3 requests of team A (one rejected), 2 of team B, all projected."""
    settings = service.settings
    await publish(
        producer,
        settings,
        "requests",
        [
            request_record(team_a, "src_a"),
            request_record(team_a, "src_a"),
            request_record(team_a, "src_a", status="rejected", cause="VERIFICATION_FAILED"),
            request_record(team_b, "src_b"),
            request_record(team_b, "src_b"),
        ],
    )
    await service.caught_up()


@pytest.fixture
async def teams(service: Service, producer) -> tuple[str, str]:
    team_a = await make_team(service.settings, "a")
    team_b = await make_team(service.settings, "b")
    await seeded(service, producer, team_a, team_b)
    return team_a, team_b


async def test_clickhouse_clients_read_the_live_tables(service: Service, teams, producer) -> None:
    settings, (team_a, team_b) = service.settings, teams
    password = await make_analyst(settings, "ann")
    cli = await client(settings, "ann", password)
    counted = await rows(
        cli, "SELECT team_id, count() FROM requests FINAL GROUP BY team_id ORDER BY team_id"
    )
    assert sorted(counted) == sorted([(team_a, 3), (team_b, 2)])
    frame = await asyncio.to_thread(
        cli.query_df,
        "SELECT team_id, status, count() AS n FROM requests FINAL "
        "WHERE team_id = {team:String} GROUP BY team_id, status ORDER BY status",
        parameters={"team": team_a},
    )
    assert frame.to_dict("records") == [
        {"team_id": team_a, "status": "accepted", "n": 2},
        {"team_id": team_a, "status": "rejected", "n": 1},
    ]

    # The statement reaches the engine as written: newlines, tabs, backslashes, comments.
    assert await rows(cli, "SELECT concat('a', '\n\t', 'b\\\\c') AS s -- note\n") == [
        ("a\n\tb\\c",)
    ]
    # A new record is visible to the same client without reconnecting: the tables are live.
    await publish(producer, settings, "requests", [request_record(team_b, "src_b")])
    await eventually(lambda: _count(cli, team_b, 3), 20, "the new request", 0.1)

    # curl: ?query=…&default_format=JSONEachRow, and a POST body with a FORMAT clause.
    status, headers, body = await http_query(
        settings.analysts_port,
        "SELECT status, count() AS n FROM requests FINAL WHERE "
        f"team_id = '{team_a}' GROUP BY status ORDER BY status",
        user="ann",
        password=password,
        default_format="JSONEachRow",
    )
    assert status == 200, body
    assert headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"]
    assert [json.loads(line) for line in body.splitlines()] == [
        {"status": "accepted", "n": 2},
        {"status": "rejected", "n": 1},
    ]
    status, headers, body = await http_query(
        settings.analysts_port,
        "SELECT 1 AS one FORMAT CSVWithNames",
        user="ann",
        password=password,
        method="POST",
    )
    assert (status, headers["X-ClickHouse-Format"], body) == (200, "CSVWithNames", b'"one"\n1\n')


async def _count(cli, team: str, expected: int) -> bool:
    found = await rows(
        cli, "SELECT count() FROM requests FINAL WHERE team_id = {t:String}", parameters={"t": team}
    )
    return found == [(expected,)]


HEAVY = "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) % 7 = 1"
REFUSED = [
    ("INSERT INTO requests (team_id, request_id) VALUES ('x', 'y')", 164),
    ("DROP TABLE requests", 164),
    ("ALTER TABLE requests DELETE WHERE 1", 164),
    ("TRUNCATE TABLE requests", 164),
    ("SYSTEM FLUSH LOGS", 164),
    ("SET readonly = 0", 164),
    ("KILL QUERY WHERE 1", 164),
    ("USE system", 164),
    ("CREATE TABLE x (a Int8) ENGINE = Memory", 164),
    ("SELECT * FROM url('http://127.0.0.1:9/x', 'CSV', 'a String')", 497),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", 497),
    ("SELECT file('/etc/hostname')", 497),
    ("SELECT * FROM s3('http://127.0.0.1:9/b/k', 'CSV', 'a String')", 497),
    ("SELECT * FROM remote('127.0.0.1', system.one)", 497),
    ("SELECT 1; DROP TABLE requests", 62),
    ("SELECT 1 SETTINGS max_execution_time = 100000", 164),
]


async def test_writes_and_ways_out_are_refused(service: Service, teams) -> None:
    settings = service.settings
    password = await make_analyst(settings, "rob")
    cli = await client(settings, "rob", password)
    for sql, code in REFUSED:
        error = await refused(cli, sql)
        assert f"Code: {code}." in error, (sql, error)
    assert await rows(cli, "SELECT count() FROM requests FINAL") == [(5,)]


async def test_into_outfile_writes_nothing(service: Service, teams, tmp_path: Path) -> None:
    settings = service.settings
    password = await make_analyst(settings, "out")
    target = tmp_path / "stolen.tsv"
    status, headers, body = await http_query(
        settings.analysts_port,
        f"SELECT * FROM requests INTO OUTFILE '{target}'",
        user="out",
        password=password,
    )
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "497", body
    assert not target.exists()


async def test_statements_are_bounded_in_time_and_result(service: Service) -> None:
    settings = service.settings
    password = await make_analyst(settings, "slow")
    cli = await client(settings, "slow", password)
    # A client may lower the time limit (Grafana sends its timeout as a setting), never raise it.
    status, headers, body = await http_query(
        settings.analysts_port, HEAVY, user="slow", password=password, max_execution_time="1"
    )
    assert status == 500 and headers["X-ClickHouse-Exception-Code"] == "159", body
    status, _, body = await http_query(
        settings.analysts_port,
        "SELECT 1",
        user="slow",
        password=password,
        max_execution_time="100000",
    )
    assert (status, body) == (200, b"1\n")
    status, headers, body = await http_query(
        settings.analysts_port, "SELECT 1", user="slow", password=password, allow_ddl="1"
    )
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "164", body
    error = await refused(cli, "SELECT number FROM numbers(2000000)")
    assert "Code: 396." in error, error  # over max_result_rows (1,000,000 by default)


async def test_the_time_limit_setting_cancels_a_long_query(
    psettings: Settings,
    db: str,
) -> None:
    from tests.projections.conftest import start_service, stop_service

    running = await start_service(psettings.with_(analysts_max_execution_s=2))
    try:
        password = await make_analyst(running.settings, "limited")
        status, headers, body = await http_query(
            running.settings.analysts_port, HEAVY, user="limited", password=password
        )
        assert status == 500 and headers["X-ClickHouse-Exception-Code"] == "159", body
        assert body.startswith(b"Code: 159. DB::Exception: Timeout exceeded")
    finally:
        await stop_service(running)


async def test_credentials(service: Service) -> None:
    settings = service.settings
    password = await make_analyst(settings, "cred")
    await client(settings, "cred", password)
    port = settings.analysts_port
    for user, given in (("cred", password + "x"), ("nobody", password)):
        status, headers, body = await http_query(port, "SELECT 1", user=user, password=given)
        assert status == 401 and headers["X-ClickHouse-Exception-Code"] == "516", body
        assert body.startswith(f"Code: 516. DB::Exception: {user}: Authentication failed".encode())
    with pytest.raises(clickhouse_connect.driver.exceptions.DatabaseError, match="516"):
        await asyncio.to_thread(
            clickhouse_connect.get_client,
            host="127.0.0.1",
            port=port,
            username="cred",
            password="wrong",
        )
    # No credential at all: ClickHouse's `default` user, refused the same way; the probes a
    # load balancer or client sends first (`/ping`, a bare `/`) answer as ClickHouse's do.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/", params={"query": "SELECT 1"}) as r:
            assert r.status == 401 and b"Code: 516" in await r.read()
        for path in ("/ping", "/"):
            async with http.get(f"http://127.0.0.1:{port}{path}") as r:
                assert (r.status, await r.text()) == (200, "Ok.\n")
    # Revoked: refused as soon as the endpoint reads the revocation from the log.
    async with admin_session(settings) as admin:
        await admin.revoke_analyst("cred")

    async def refused_now() -> bool:
        status, _, _ = await http_query(port, "SELECT 1", user="cred", password=password)
        return status == 401

    await eventually(refused_now, 20, "revocation applied", 0.1)


def bypasses(db: str, other: str) -> list[str]:
    """Every way the tests can think of for team A's analyst to reach team B's rows."""
    return [
        f"SELECT count() FROM {db}.requests",
        f"SELECT count() FROM `{db}`.`requests`",
        f'SELECT count() FROM "{db}"."requests"',
        f"SELECT count() FROM {other}.requests",
        f"SELECT count() FROM requests WHERE request_id IN (SELECT request_id FROM {db}.requests)",
        f"SELECT count() FROM requests WHERE request_id IN {db}.requests",
        f"SELECT count() FROM requests AS r JOIN {db}.requests AS o ON r.source_id != o.source_id",
        f"SELECT (SELECT count() FROM {db}.requests)",
        f"WITH (SELECT count() FROM {db}.requests) AS n SELECT n",
        f"SELECT * FROM (SELECT team_id FROM {db}.requests) LIMIT 1",
        f"SELECT count() FROM requests UNION ALL SELECT count() FROM {db}.requests",
        f"SELECT count() FROM merge('{db}', '^requests$')",
        "SELECT count() FROM merge(REGEXP('.*'), '^requests$')",
        f"SELECT count() FROM remote('127.0.0.1', {db}.requests)",
        f"SELECT count() FROM cluster('default', {db}.requests)",
        f"SELECT count() FROM view(SELECT * FROM {db}.requests)",
        f"SELECT count() FROM loop({db}, requests) LIMIT 1",
        f"SELECT joinGet('{db}.requests', 'team_id', 'x')",
        "SELECT * FROM system.tables",
        "SELECT * FROM system.databases",
        "SELECT * FROM system.columns",
        "SELECT * FROM system.parts",
        "SELECT * FROM system.processes",
        "SELECT * FROM system.query_log",
        "SELECT count() FROM INFORMATION_SCHEMA.tables",
        "SHOW DATABASES",
        f"SHOW TABLES FROM {db}",
        "SHOW PROCESSLIST",
        f"DESCRIBE TABLE {db}.requests",
        f"EXISTS TABLE {db}.requests",
        f"SHOW CREATE TABLE {db}.requests",
        f"EXPLAIN SELECT count() FROM {db}.requests",
        f"SELECT hasColumnInTable('{db}', 'requests', 'body')",
    ]


async def test_a_team_scoped_analyst_sees_only_its_team(service: Service, teams) -> None:
    settings, (team_a, team_b) = service.settings, teams
    password = await make_analyst(settings, "scoped", team_a)
    cli = await client(settings, "scoped", password)
    # Its own rows, by the documented queries as written (team filter and FINAL included).
    assert await rows(cli, f"SELECT count() FROM requests FINAL WHERE team_id = '{team_a}'") == [
        (3,)
    ]
    assert await rows(cli, "SELECT team_id, count() FROM requests GROUP BY team_id") == [
        (team_a, 3)
    ]
    assert await rows(cli, f"SELECT count() FROM requests WHERE team_id = '{team_b}'") == [(0,)]
    assert await rows(
        cli,
        "SELECT source_id, count() FROM requests FINAL WHERE status = "
        "'rejected' GROUP BY source_id",
    ) == [("src_a", 1)]
    # What clients read while connecting, and harmless reference tables, still work.
    assert await rows(cli, "SELECT count() > 0 FROM system.settings") == [(True,)]
    assert ("requests",) in await rows(cli, "SHOW TABLES")
    assert await rows(cli, "SELECT count() FROM numbers(3)") == [(3,)]

    team_b_db = f"{service.app[DATABASE]}_{team_b}"
    # Team B's analyst: team B's database exists too, and B sees only B.
    cli_b = await client(settings, "other", await make_analyst(settings, "other", team_b))
    assert await rows(cli_b, "SELECT count() FROM requests") == [(2,)]
    for sql in bypasses(service.app[DATABASE], team_b_db):
        error = await refused(cli, sql)
        assert "Code: 497." in error or "Code: 164." in error, (sql, error)
    # The database parameter cannot switch either.
    status, headers, body = await http_query(
        settings.analysts_port,
        "SELECT count() FROM requests",
        user="scoped",
        password=password,
        database=service.app[DATABASE],
    )
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "497", body


async def test_a_long_analyst_query_does_not_hold_up_the_projector(
    psettings: Settings, db: str, producer
) -> None:
    from tests.projections.conftest import start_service, stop_service

    running = await start_service(
        psettings.with_(analysts_max_execution_s=15, analysts_max_threads=2)
    )
    try:
        settings = running.settings
        password = await make_analyst(settings, "heavy")
        cli = await client(settings, "heavy", password)
        watcher = await client(settings, "heavy", password)
        long_query = asyncio.create_task(refused(cli, HEAVY))
        await eventually(lambda: _running(watcher), 10, "the heavy query running", 0.05)
        record = request_record("tm_projections", "src_live")
        await publish(producer, settings, "requests", [record])
        # Written and searchable through the query API while the analyst's query still runs.
        await running.wait_for("/v1/requests", 1, 30, source_id="src_live")
        assert not long_query.done()
        # …and the analyst's query ends at its time limit with ClickHouse's error.
        assert "Code: 159." in await asyncio.wait_for(long_query, 60)
    finally:
        await stop_service(running)


async def _running(cli) -> bool:
    found = await rows(
        cli,
        "SELECT count() FROM system.processes WHERE "
        "query LIKE '%sipHash64(number)%' AND query NOT LIKE '%processes%'",
    )
    return found[0][0] > 0


async def test_what_grafana_and_curl_send(service: Service) -> None:
    """clickhouse-go (Grafana's driver) over HTTP: a POST body, `default_format=Native`, its
    timeout as a setting; curl with HTTP compression; a client asking native compression."""
    settings = service.settings
    password = await make_analyst(settings, "graf")
    await client(settings, "graf", password)
    port = settings.analysts_port
    status, headers, body = await http_query(
        port,
        "SELECT timeZone()",
        user="graf",
        password=password,
        method="POST",
        default_format="Native",
        max_execution_time="60",
    )
    assert (status, headers["X-ClickHouse-Format"]) == (200, "Native"), body
    # Native: 1 column, 1 row, the column's name and type, then the value.
    assert body.startswith(b"\x01\x01") and b"String" in body and body.endswith(b"UTC")
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"http://127.0.0.1:{port}/",
            params={"query": "SELECT number FROM numbers(1000)", "enable_http_compression": "1"},
            headers={
                "Authorization": aiohttp.encode_basic_auth("graf", password),
                "Accept-Encoding": "gzip",
            },
        ) as response,
    ):
        assert response.headers["Content-Encoding"] == "gzip"
        assert (await response.text()).split() == [str(n) for n in range(1000)]
    status, headers, body = await http_query(
        port, "SELECT 1", user="graf", password=password, compress="1"
    )
    assert status == 501 and headers["X-ClickHouse-Exception-Code"] == "48", body


async def test_a_client_that_hangs_up_has_its_statement_killed(service: Service) -> None:
    settings = service.settings
    password = await make_analyst(settings, "quitter")
    watcher = await client(settings, "quitter", password)
    auth = {"Authorization": aiohttp.encode_basic_auth("quitter", password)}
    async with aiohttp.ClientSession() as http:
        request = asyncio.create_task(
            http.get(
                f"http://127.0.0.1:{settings.analysts_port}/", params={"query": HEAVY}, headers=auth
            )
        )
        await eventually(lambda: _running(watcher), 10, "the heavy query running", 0.05)
        request.cancel()  # the client goes away (30 s before the statement's time limit)
        await asyncio.gather(request, return_exceptions=True)

    async def ended() -> bool:
        return not await _running(watcher)

    await eventually(ended, 10, "the statement killed", 0.1)
