"""`make run` (`fasthook run`, the whole supervised stack): the banner's ClickHouse URL works
with clickhouse-connect and curl while the gateway serves Twilio callbacks, the documented
analyses give the right numbers, and `fasthook analysts create --team` makes a scoped analyst."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import aiohttp
import clickhouse_connect

from tests.projections.analysts_support import documented, http_query, rows
from tests.support.poll import eventually
from tests.support.supervised import SupervisedStack

CALLBACKS = [  # (MessageSid, MessageStatus, ErrorCode), in arrival order
    ("SM1", "sent", ""),
    ("SM1", "delivered", ""),
    ("SM2", "sent", ""),
    ("SM2", "undelivered", "30003"),
    ("SM3", "delivered", ""),
    ("SM3", "sent", ""),  # out of order
]


async def post_callbacks(http: aiohttp.ClientSession, source_url: str) -> None:
    for sid, status, error in CALLBACKS:
        form = {
            "MessageSid": sid,
            "MessageStatus": status,
            "To": "+14155550100",
            "From": "+18005550199",
            "AccountSid": "AC1",
            "ErrorCode": error,
        }
        async with http.post(source_url + "/twilio/status", data=form) as response:
            assert response.status == 200


async def test_make_run_serves_analysts(tmp_path) -> None:
    stack = SupervisedStack(tmp_path)
    try:
        first = await stack.start()
        endpoint = urlsplit(first["clickhouse"])
        assert endpoint.username == "analyst" and endpoint.port == stack.ports["analysts"]
        auth = {"Authorization": f"Bearer {first['key']}"}
        async with aiohttp.ClientSession() as http:
            await post_callbacks(http, first["source_url"])
            async with http.post(
                first["api"] + "/v1/sources",
                headers=auth,
                json={
                    "name": "signed",
                    "config": {"auth_type": "TWILIO", "auth": {"auth_token": "0" * 32}},
                },
            ) as r:
                assert r.status == 201
                signed = await r.json()

            async def forged() -> bool:  # 404 until ingress has read the new source
                async with http.post(
                    signed["url"] + "/twilio/status",
                    data={"MessageSid": "SMx"},
                    headers={"X-Twilio-Signature": "forged"},
                ) as r:
                    assert r.status in (401, 404)
                    return r.status == 401

            await eventually(forged, 30, "the forged callback rejected", 0.1)
            async with http.get(first["api"] + "/v1/team", headers=auth) as r:
                team = (await r.json())["id"]

        cli = await asyncio.to_thread(
            clickhouse_connect.get_client,
            host=endpoint.hostname,
            port=endpoint.port,
            username=endpoint.username,
            password=endpoint.password,
        )

        async def all_projected() -> bool:
            found = await rows(cli, "SELECT count() FROM twilio_message_callbacks")
            rejected = await rows(cli, "SELECT count() FROM requests WHERE status = 'rejected'")
            return found == [(6,)] and rejected == [(1,)]

        await eventually(all_projected, 60, "the callbacks in ClickHouse", 0.2)

        failure = await rows(
            cli, documented("Failure rate by ErrorCode and carrier prefix, per day", team)
        )
        assert [row[1:] for row in failure] == [("+1415", "30003", 1, 3, 0.3333)]
        timing = await asyncio.to_thread(
            cli.query_df, documented("Time from sent to delivered, per MessageSid", team)
        )
        by_sid = dict(zip(timing["message_sid"], timing["sent_to_delivered_ms"], strict=True))
        assert set(by_sid) == {"SM1", "SM3"} and by_sid["SM1"] >= 0 > by_sid["SM3"]
        late = await rows(cli, documented("Callbacks that arrived out of order", team))
        assert [(row[0], row[2]) for row in late] == [("SM3", "sent")]
        rejected = await rows(cli, documented("Requests rejected by signature, by source", team))
        assert [row[:2] for row in rejected] == [(signed["id"], 1)]

        status, headers, body = await http_query(
            endpoint.port,
            "SELECT message_sid, status FROM twilio_messages ORDER BY message_sid",
            user=endpoint.username or "",
            password=endpoint.password or "",
            default_format="JSONEachRow",
        )
        assert status == 200 and headers["X-ClickHouse-Format"] == "JSONEachRow", body
        assert [json.loads(line) for line in body.splitlines()] == [
            {"message_sid": "SM1", "status": "delivered"},
            {"message_sid": "SM2", "status": "undelivered"},
            {"message_sid": "SM3", "status": "delivered"},
        ]

        # The CLI makes a team-scoped analyst; it sees its team's database only.
        env = {**stack.env, "FASTHOOK_KAFKA_BOOTSTRAP": stack.bootstrap}
        made = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "fasthook", "analysts", "create", "teamed", "--team", team],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=os.getcwd(),
        )
        assert made.returncode == 0, made.stderr
        analyst_id, name, password, url = made.stdout.split()
        assert (analyst_id[:4], name) == ("anl_", "teamed")
        assert url == f"http://teamed:{password}@127.0.0.1:{endpoint.port}"

        async def scoped_client() -> object:
            try:
                return await asyncio.to_thread(
                    clickhouse_connect.get_client,
                    host="127.0.0.1",
                    port=endpoint.port,
                    username="teamed",
                    password=password,
                )
            except clickhouse_connect.driver.exceptions.DatabaseError:
                return None

        scoped = await eventually(scoped_client, 30, "the scoped analyst known", 0.2)
        assert await rows(scoped, "SELECT count() FROM twilio_messages") == [(3,)]
        assert "Code: 497" in await asyncio.to_thread(
            _error, scoped, "SELECT count() FROM fasthook.requests"
        )

        async def cli(*args: str) -> str:
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "fasthook", "analysts", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        listed = await cli("list")
        assert f"{analyst_id}  teamed  team={team}  active" in listed
        assert "  analyst  team=*  active" in listed
        assert "revoked at" in await cli("revoke", "teamed")

        async def refused() -> bool:
            status, _, _ = await http_query(
                endpoint.port, "SELECT 1", user="teamed", password=password
            )
            return status == 401

        await eventually(refused, 30, "the revoked analyst refused", 0.2)
        await stack.stop()
    finally:
        stack.kill()


def _error(cli: object, sql: str) -> str:
    try:
        cli.query(sql)  # type: ignore[attr-defined]
    except clickhouse_connect.driver.exceptions.DatabaseError as exc:
        return str(exc)
    return "not refused"
