"""The OpenAPI document against the live API, with schemathesis' default checks: no 500, and
every answer (status, content type, headers, body) is one the document describes; data the
document calls valid is accepted and data it calls invalid is refused.

The API runs in a thread with its own event loop (schemathesis is sync, on `requests`), on the
session's real broker, with a team and a key. Generated `{id}`s are sometimes real ids (see
`flatmap_case`), so GET/PUT/DELETE and the actions also run against entities that exist.

The operations are generated from the same document the API serves (`openapi_document()`, an
import-time value so pytest can parametrize by operation); the first test proves the served
`/v1/openapi.json` is exactly that document.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData

from api.openapi import openapi_document
from runtime.kafka import ensure_topics
from runtime.secrets import generate_key
from runtime.settings import load_settings
from schemas.topics import Topics
from tests.api.test_guide import RECEIVER, TWILIO_SOURCE, guide_connection
from tests.support.api import RunningApi, start_api, stop_api


class ThreadedApi:
    """The real API app on a free port, served by an event loop in a daemon thread."""

    def __init__(self, bootstrap: str, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api", daemon=True)
        self.thread.start()
        try:
            topics = Topics(f"oas{uuid.uuid4().hex[:8]}")
            self.run(ensure_topics(bootstrap, topics))
            app_settings = load_settings(
                {}, kafka_bootstrap=bootstrap, topic_namespace=topics.namespace,
                data_dir=str(data_dir), produce_timeout_s=5.0, log_format="text",
                secret_key=generate_key(),
            )
            self.api: RunningApi = self.run(start_api(app_settings))
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
        finally:
            self._stop_loop()


class Entities:
    """Real ids of the live team, made on demand: one of each kind always exists."""

    def __init__(self, api: RunningApi) -> None:
        self.url = api.url
        self.team_id: str = api.team["id"]
        self.http = requests.Session()
        self.http.headers.update(api.headers())

    def ids(self, plural: str) -> list[str]:
        response = self.http.get(f"{self.url}/v1/{plural}", params={"limit": 5}, timeout=10)
        assert response.status_code == 200, response.text
        found = [e["id"] for e in response.json()["models"]]
        return found or [self._create(plural)]

    def _create(self, plural: str) -> str:
        if plural == "sources":
            body: dict[str, Any] = {**TWILIO_SOURCE, "name": f"seed {uuid.uuid4().hex}"}
        elif plural == "destinations":
            body = {**RECEIVER, "name": f"seed {uuid.uuid4().hex}"}
        else:
            body = {**guide_connection(self.ids("sources")[0], self.ids("destinations")[0]),
                    "name": f"seed {uuid.uuid4().hex}"}
        response = self.http.post(f"{self.url}/v1/{plural}", json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()["id"]


LIVE: dict[str, Entities] = {}  # set by the `live_api` fixture, read by the hooks below


@pytest.fixture(scope="module")
def live_api(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    threaded = ThreadedApi(bootstrap, tmp_path_factory.mktemp("openapi"))
    LIVE["entities"] = Entities(threaded.api)
    try:
        yield threaded.api
    finally:
        LIVE.clear()
        threaded.close()


schema = schemathesis.openapi.from_dict(openapi_document())


@schema.hook
def flatmap_case(_: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy:
    """Often the key's own team in `x-team-id` (or none), and a real id of the operation's kind
    for `{id}`, instead of the generated ones: else nearly every request stops at 403 or 404.

    Schemathesis re-validates a case a hook changed: a negative case whose only invalid part
    was replaced becomes a positive one."""
    plural = case.operation.path.split("/")[2]

    def realistic(team: str, real_id: bool) -> schemathesis.Case:
        entities = LIVE["entities"]
        if "x-team-id" in (case.headers or {}) and team != "generated":
            headers = {k: v for k, v in case.headers.items() if k != "x-team-id"}
            case.headers = {**headers, "x-team-id": entities.team_id} if team == "own" else headers
        if real_id and "id" in (case.path_parameters or {}):
            case.path_parameters = {**case.path_parameters, "id": entities.ids(plural)[0]}
        return case

    return st.builds(realistic, st.sampled_from(["generated", "own", "none"]), st.booleans())


# What the API checks past JSON Schema, by the paths its 422s name. A schema-valid request is
# still refused when it breaks one of these, so `positive_data_acceptance` excuses exactly these
# (and nothing else: a 422 at any other path means the document is looser than the API).
BEYOND_SCHEMA = re.compile(
    r"config\.auth(\..+)?"  # auth's shape depends on the sibling auth_type
    r"|config"  # rate_limit and rate_limit_period go together
    r"|source_id|destination_id"  # must name entities of the team
    r"|next|prev"  # opaque cursors: only ones this API returned, and not both
    r"|rules\[\d+\]"  # a filter rule needs a section; ...
    r"(\.(headers|body|query|path)([.\[].*)?"  # ... Hookdeck filter grammar (free-form JSON)
    r"|\.code"  # JavaScript that compiles and calls addHandler
    r"|\.response_status_codes\[\d+\]"  # status code expressions
    r"|\.type"  # one rule of each type but filter
    r"|\.(include|exclude)_fields(\[\d+\])?)?"  # field paths; include or exclude, not both
)


@schema.hook
def filter_failure(_: schemathesis.HookContext, failure: Any, case: schemathesis.Case,
                   response: schemathesis.Response) -> bool:
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    errors = json.loads(response.content).get("errors") or [{"path": ""}]
    return not all(BEYOND_SCHEMA.fullmatch(e["path"]) for e in errors)


def test_the_served_document_is_the_one_under_test(live_api: RunningApi) -> None:
    response = requests.get(f"{live_api.url}/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(openapi_document()))
    schemathesis.openapi.from_dict(response.json()).validate()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, live_api: RunningApi
) -> None:
    case.call_and_validate(base_url=live_api.url, headers=live_api.headers())


STATS: dict = {}


@schema.hook
def after_call(_ctx, case, response):
    key = (case.method, case.operation.path, response.status_code,
           case.meta.generation.mode.value if case.meta else None)
    STATS[key] = STATS.get(key, 0) + 1


@schema.hook("filter_failure")
def log_failures(_ctx, failure, case, response):
    print("FAILURE", type(failure).__name__, case.method, case.path, response.status_code,
          response.content[:300])
    return True


def test_zz_stats():
    for k in sorted(STATS, key=str):
        print(k, STATS[k])
