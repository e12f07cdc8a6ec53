"""Analysts against a running projections service: credentials made through the admin session
(on the config log), a real clickhouse-connect client, raw HTTP like curl, and the documented
queries read out of docs/analysts.md."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import clickhouse_connect
from clickhouse_connect.driver.client import Client

from api.admin import admin_session
from runtime.settings import Settings
from tests.support.poll import eventually

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"


def documented(title: str, team_id: str) -> str:
    """The SQL under a docs/analysts.md heading, for this team."""
    section = DOC.read_text().split(f"### {title}\n", 1)[1]
    sql = re.search(r"```sql\n(.*?)```", section, re.S)
    assert sql, title
    return sql.group(1).strip().rstrip(";").replace("tm_…", team_id)


async def make_analyst(settings: Settings, name: str, team_id: str | None = None) -> str:
    """A new analyst's password, once the endpoint knows the analyst: the endpoint learns
    credentials from the config log, a moment after the admin session wrote them."""
    async with admin_session(settings) as admin:
        password, _ = await admin.create_analyst(name, team_id)

    async def known() -> bool:
        status, _, body = await http_query(
            settings.analysts_port, "SELECT 1", user=name, password=password
        )
        assert status in (200, 401), (status, body)  # 401 is "not known yet"
        return status == 200

    await eventually(known, 20.0, f"analyst {name} known to the endpoint", 0.05)
    return password


async def make_team(settings: Settings, name: str) -> str:
    async with admin_session(settings) as admin:
        team = await admin.create_team(name)
    return str(team["id"])


async def http_query(
    port: int, sql: str, *, user: str, password: str, method: str = "GET", **params: str
) -> tuple[int, dict[str, str], bytes]:
    """What curl sends: `?query=` (GET) or the body (POST), Basic auth."""
    auth = {"Authorization": aiohttp.encode_basic_auth(user, password)}
    async with aiohttp.ClientSession() as http:
        if method == "GET":
            request = http.get(
                f"http://127.0.0.1:{port}/", params={"query": sql, **params}, headers=auth
            )
        else:
            request = http.post(
                f"http://127.0.0.1:{port}/", params=params, data=sql.encode(), headers=auth
            )
        async with request as response:
            return response.status, dict(response.headers), await response.read()


async def client(settings: Settings, user: str, password: str, timeout_s: float = 20.0) -> Client:
    """A clickhouse-connect client, once the endpoint knows the analyst (it follows the log)."""

    async def connect() -> Client | None:
        try:
            return await asyncio.to_thread(
                clickhouse_connect.get_client,
                host="127.0.0.1",
                port=settings.analysts_port,
                username=user,
                password=password,
            )
        except clickhouse_connect.driver.exceptions.DatabaseError as exc:
            assert "516" in str(exc), exc  # only "not known yet" may be retried
            return None

    return await eventually(connect, timeout_s, f"analyst {user} accepted", 0.1)


async def refused(cli: Client, sql: str) -> str:
    """The ClickHouse error a refused statement gets (fails the test if it ran)."""
    try:
        result = await asyncio.to_thread(cli.query, sql)
    except clickhouse_connect.driver.exceptions.DatabaseError as exc:
        return str(exc)
    raise AssertionError(f"not refused: {sql} -> {result.result_rows[:5]}")


async def rows(cli: Client, sql: str, **kwargs: Any) -> list[tuple[Any, ...]]:
    result = await asyncio.to_thread(cli.query, sql, **kwargs)
    return [tuple(row) for row in result.result_rows]
