"""The OpenAPI document against the live API, with schemathesis and its default checks: no
500, every answer (status, content type, headers, body) is one the document describes, data
the document calls valid is accepted and data it calls invalid is refused.

The API and the projections service it forwards the query, retry and bulk routes to run in a
thread with their own event loop (schemathesis is sync, on `requests`), on the session's real
broker and real chdb engine, with requests, events (delivered, failed, cancelled), attempts,
ignored events and bulk jobs of the key's team behind them. The cases come from the document
the API serves (the API's `openapi_document()` merged with projections' `openapi_paths()`,
built at import so pytest can parametrize by operation; the first test proves
`/v1/openapi.json` is that document). Schemathesis' own phases (examples, coverage, fuzzing)
make them; `realistic` points most of them at the key's team and at real ids, so they reach
the handlers instead of stopping at 403 or 404.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import uuid
import zlib
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import Failure
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData

from api.admin import admin_session
from api.entities import KEY_PREFIX, hash_key, new_api_key
from api.models import id_pattern
from api.openapi import merged, openapi_document
from fasthook.embedded import free_port
from projections.clickhouse import Engine
from projections.openapi import openapi_paths
from runtime.kafka import ensure_topics, make_producer
from runtime.secrets import generate_key
from runtime.settings import Settings, load_settings
from schemas.ids import new_id
from schemas.topics import Topics
from tests.api.test_guide import RECEIVER, TWILIO_SOURCE, guide_connection
from tests.projections.conftest import Service, start_service, stop_service
from tests.projections.records import (
    attempt_record,
    event_record,
    ignored_record,
    publish,
    request_record,
)
from tests.support.api import RunningApi, start_api, stop_api

# The key schemathesis sends. Its auth config is read at import (the coverage phase builds its
# cases at collection), so the key is chosen now and registered for the live team later.
KEY = KEY_PREFIX + secrets.token_urlsafe(32)


async def add_key(api: RunningApi, key: str) -> None:
    async with admin_session(api.settings) as admin:
        _, minted = new_api_key("schemathesis", [api.team["id"]])
        await admin.store.put("api_key", {**minted, "hash": hash_key(key), "hint": key[:8] + "…"})
    for _ in range(500):  # the API's view follows the config topic
        if (await api.call("GET", "/v1/team", key=key))[0] == 200:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the API never saw the new key")


async def seed(settings: Settings, team_id: str) -> None:
    """What the query routes list: accepted and rejected requests, events delivered, failed,
    retrying and cancelled with their attempts, an ignored event."""
    accepted = [request_record(team_id, "src_seed") for _ in range(4)]
    rejected = request_record(team_id, "src_seed", status="rejected", cause="VERIFICATION_FAILED")
    events = [event_record(r) for r in accepted]
    attempts = [
        attempt_record(events[0], status=200, event_status="SUCCESSFUL"),
        attempt_record(events[1], status=500),
        attempt_record(
            events[2],
            status=503,
            event_status="SCHEDULED",
            next_attempt_at=events[2]["created_at"] + 3_600_000,
        ),
        attempt_record(
            events[3], status=None, error_code="CONNECTION_DISABLED", event_status="CANCELLED"
        ),
    ]
    producer = make_producer(settings.kafka_bootstrap)
    await producer.start()
    try:
        await publish(producer, settings, "requests", [*accepted, rejected])
        await publish(producer, settings, "events", events)
        await publish(producer, settings, "attempts", attempts)
        await publish(producer, settings, "ignored", [ignored_record(accepted[0])])
    finally:
        await producer.stop()


class ThreadedApi:
    """The real API and projections apps on free ports, served by an event loop in a daemon
    thread, with data behind the query routes."""

    def __init__(self, bootstrap: str, engine_dsn: str, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api", daemon=True)
        self.thread.start()
        self.projections: Service | None = None
        try:
            topics = Topics(f"oas{uuid.uuid4().hex[:8]}")
            self.run(ensure_topics(bootstrap, topics))
            app_settings = load_settings(
                {},
                kafka_bootstrap=bootstrap,
                topic_namespace=topics.namespace,
                data_dir=str(data_dir),
                produce_timeout_s=5.0,
                log_format="text",
                secret_key=generate_key(),
                projections_port=free_port(),
                analysts_port=free_port(),
                clickhouse_dsn=engine_dsn,
                clickhouse_database=topics.namespace,
                projector_batch_ms=50,
            )
            self.projections = self.run(start_service(app_settings))
            self.api: RunningApi = self.run(start_api(app_settings))
            self.run(add_key(self.api, KEY))
            self.run(seed(app_settings, self.api.team["id"]))
            self.run(self.projections.caught_up())
        except BaseException:
            self._stop_loop()
            raise

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def close(self) -> None:
        try:
            self.run(stop_api(self.api))
            if self.projections is not None:
                self.run(stop_service(self.projections))
        finally:
            self._stop_loop()


class Team:
    """The live team: its id, and real ids of each kind (one is made when none is left)."""

    def __init__(self, api: RunningApi) -> None:
        self.id: str = api.team["id"]
        self.url = api.url
        self.http = requests.Session()
        self.http.headers.update(api.headers(KEY))
        self.bulk_ids = {
            kind: self._bulk(kind, query)
            for kind, query in (
                ("events", {"status": "FAILED"}),
                ("requests", {"source_id": "src_seed"}),
            )
        }

    def _bulk(self, kind: str, query: dict[str, Any]) -> str:
        response = self.http.post(
            f"{self.url}/v1/bulk/{kind}/retry", json={"query": query}, timeout=30
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def id_for(self, path: str) -> str:
        """A real id for the `{id}` of an operation's path."""
        parts = path.split("/")
        return self.bulk_ids[parts[3]] if parts[2] == "bulk" else self.some_id(parts[2])

    def some_id(self, plural: str) -> str:
        response = self.http.get(f"{self.url}/v1/{plural}", params={"limit": 1}, timeout=10)
        assert response.status_code == 200, response.text
        found = response.json()["models"]
        if not found and plural == "issues":
            return new_id("iss")  # issues come of failures only: an unknown id (a 404)
        return found[0]["id"] if found else self._create(plural)

    def _create(self, plural: str) -> str:
        body = {
            "sources": TWILIO_SOURCE,
            "destinations": RECEIVER,
            "issue-triggers": {"type": "transformation"},
        }.get(plural) or guide_connection(self.some_id("sources"), self.some_id("destinations"))
        body = {**body, "name": f"seed {uuid.uuid4().hex}"}
        response = self.http.post(f"{self.url}/v1/{plural}", json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()["id"]


@pytest.fixture(scope="module")
def team(
    bootstrap: str, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Team]:
    threaded = ThreadedApi(bootstrap, engine.dsn, tmp_path_factory.mktemp("openapi"))
    try:
        yield Team(threaded.api)
    finally:
        threaded.close()


def realistic(case: schemathesis.Case, team: Team) -> None:
    """For three cases in four, the key's own team in `x-team-id` (else nearly all stop at 403:
    the coverage phase puts "0" there); for two in three a real `{id}` if the generated one is
    valid (else a 404 before the body is even read); for one connection in two, a real source
    and destination. The rest stay as generated.

    Assigning the containers makes schemathesis re-validate the case before sending it."""

    def pick(salt: str, out_of: int) -> bool:  # deterministic per case, spread over cases
        seed = f"{salt}{case.method}{case.path_parameters}{case.query}{case.body!r}"
        return zlib.crc32(seed.encode()) % out_of != 0

    if "x-team-id" in (case.headers or {}) and pick("team", 4):
        case.headers = {**case.headers, "x-team-id": team.id}
    valid_path = not (case.meta and case.meta.is_negative_at(ParameterLocation.PATH))
    if "id" in (case.path_parameters or {}) and valid_path and pick("id", 3):
        case.path_parameters = {"id": team.id_for(case.operation.path)}
    if isinstance(case.body, dict) and "source_id" in case.body and pick("connection", 2):
        case.body = {
            **case.body,
            "source_id": team.some_id("sources"),
            "destination_id": team.some_id("destinations"),
        }


# Not `schemathesis.pytest.from_fixture` + `from_url`: its lazy loader (4.32) writes
# `request.node._nodeid`, which pytest 9.2 no longer has. The document is the same (see the
# first test), and the live URL is given per call.
DOCUMENT = merged(openapi_document(), openapi_paths())
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict({"auth": {"openapi": {"bearer": {"bearer": KEY}}}}),
)
# The routes the API forwards to projections (they run ClickHouse queries: fewer cases).
FORWARDED = r"^/v1/(requests|events|attempts|ignored-events|bulk|issues|metrics)(/|$)"
control_plane = schema.exclude(path_regex=FORWARDED)
forwarded = schema.include(path_regex=FORWARDED)

# What the API checks past JSON Schema, by the paths its 422s name: a schema-valid request is
# still refused when it breaks one of these, so `positive_data_acceptance` excuses exactly those
# 422s. A 422 naming any other path means the document is looser than the API: a failure.
BEYOND_SCHEMA = re.compile(
    r"config\.auth([.\[].+)?"  # auth's shape depends on the sibling auth_type (free-form object)
    r"|config"  # rate_limit and rate_limit_period go together
    r"|source_id|destination_id"  # must name entities of the team
    r"|next|prev"  # opaque cursors: only ones this API returned, and not both
    r"|\(query\)"  # metrics: `from` before `to`, at most 31 days, at most 1440 buckets
    r"|rules\[\d+\]"  # a filter rule needs a section; ...
    # ... Hookdeck filter grammar (free-form JSON), on the request and the provider's view
    r"(\.(headers|body|query|path|event_type|idempotency_key)([.\[].*)?"
    r"|\.code"  # JavaScript that compiles and calls addHandler
    r"|\.response_status_codes\[\d+\]"  # status code expressions ("500-599", "!501", ">=400")
    r"|\.type"  # one rule of each type but filter
    r"|\.(include|exclude)_fields(\[\d+\])?)?"  # field paths; include or exclude, not both
    r"|configs([.\[].+)?"  # an issue trigger's configs: their shape depends on its type
)


@schema.hook
def filter_failure(
    _: schemathesis.HookContext,
    failure: Failure,
    case: schemathesis.Case,
    response: schemathesis.Response,
) -> bool:
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    errors = json.loads(response.content).get("errors") or [{"path": ""}]
    return not all(BEYOND_SCHEMA.fullmatch(e["path"]) for e in errors)


def test_the_served_document_is_the_one_under_test(team: Team) -> None:
    response = requests.get(f"{team.url}/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(DOCUMENT))
    schemathesis.openapi.from_dict(response.json()).validate()


def test_ids_in_the_document_match_minted_ones(team: Team) -> None:
    for plural, prefix in (("sources", "src"), ("destinations", "des"), ("connections", "con")):
        assert re.fullmatch(id_pattern(prefix), team.some_id(plural))
    assert re.fullmatch(id_pattern("tm"), team.id)


def test_json_nested_too_deeply_is_refused_like_any_bad_json(team: Team) -> None:
    response = team.http.post(f"{team.url}/v1/sources", data=b"[" * 100_000, timeout=10)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("config", "status"),
    [
        ({"timeout_ms": 1000.0}, 201),  # JSON Schema: 1000.0 is an integer
        ({"timeout_ms": "1000"}, 422),  # a string is not
        ({"timeout_ms": True}, 422),
        ({"path_forwarding": 1}, 422),  # nor 1 a boolean
        ({"path_forwarding": "yes"}, 422),
    ],
)
def test_json_types_are_the_documented_ones(team: Team, config: dict, status: int) -> None:
    body = {
        **RECEIVER,
        "name": f"typed {uuid.uuid4().hex}",
        "config": {**RECEIVER["config"], **config},
    }
    response = team.http.post(f"{team.url}/v1/destinations", json=body, timeout=10)
    assert response.status_code == status, response.text
    if status == 422:
        assert [e["path"] for e in response.json()["errors"]] == [f"config.{next(iter(config))}"]


@control_plane.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, team: Team) -> None:
    realistic(case, team)
    case.call_and_validate(base_url=team.url)


@forwarded.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_forwarded_routes_conform_to_the_document(case: schemathesis.Case, team: Team) -> None:
    realistic(case, team)
    case.call_and_validate(base_url=team.url)
