"""Session-wide real components: one embedded broker for the whole run; a namespace per test.

If the broker cannot start, every test that needs it errors loudly (never skips).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hypothesis
import pytest

from fasthook.embedded import EmbeddedBroker
from projections.clickhouse import Engine
from runtime.kafka import ensure_topics, make_producer
from runtime.secrets import generate_key
from runtime.settings import Settings, load_settings
from schemas.topics import Topics
from tests.support.teardown import task_stacks

_counter = itertools.count()
SECRET_KEY = generate_key()

# Hypothesis' per-example deadline measures speed, which belongs to `make bench`: on a loaded
# machine it only makes property tests flaky.
hypothesis.settings.register_profile("fasthook", deadline=None)
hypothesis.settings.load_profile("fasthook")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs workers in parallel), each worker and every process
    it starts picks ports from a slice of its own (fasthook.embedded.free_port)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, …
    if worker:
        count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
        os.environ["FASTHOOK_PORT_SLICE"] = f"{worker.removeprefix('gw')}/{count}"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    embedded.start()  # raises EmbeddedStackError with the broker's output: a loud failure
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
async def engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    """The real ClickHouse engine (chdb) for the run: one data path per process, a database
    per test. If it cannot start, every test that needs it errors loudly (never skips)."""
    path: Path = tmp_path_factory.mktemp("chdb")
    opened = await Engine.open(f"chdb://{path}")  # raises EngineError: a loud failure
    [row] = await opened.query("SELECT version() AS version")
    assert row["version"], "chdb answered without a version"
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
def bootstrap(broker: EmbeddedBroker) -> str:
    return broker.bootstrap


@pytest.fixture
async def topics(bootstrap: str) -> Topics:
    """A fresh namespace of every catalog topic, so tests never see each other's records."""
    ns = f"t{os.getpid()}x{next(_counter)}x{uuid.uuid4().hex[:6]}"
    names = Topics(ns)
    await ensure_topics(bootstrap, names)
    return names


@pytest.fixture
def settings(bootstrap: str, topics: Topics, tmp_path: Path) -> Settings:
    return load_settings(
        {},
        kafka_bootstrap=bootstrap,
        topic_namespace=topics.namespace,
        data_dir=str(tmp_path),
        produce_timeout_s=5.0,
        log_format="text",
        secret_key=SECRET_KEY,
    )


@pytest.fixture
async def producer(bootstrap: str) -> AsyncIterator:
    p = make_producer(bootstrap)
    await p.start()
    yield p
    await p.stop()


# Tests that start real components (the broker, the ClickHouse engine, whole processes) are
# marked `stack`; the rest are the pure core that `make check` runs in well under a minute.
_STACK_FIXTURES = frozenset({"broker", "engine", "bootstrap"})
_STACK_FOLDERS = ("chaos", "e2e", "fasthook")
# Tests whose bounds are on time (fairness between teams, a slow client not stalling others, a
# transformation cut off in time, a pty's screen): marked `serial`, `make test` runs them after
# the parallel workers are done, alone on the machine.
# The process-level fault tests (tests/chaos, marked `slow`) run before them, beside each other
# and beside the schemathesis cases: their load makes others' bounds suffer, not their own.
_SERIAL_FILES = frozenset(
    {
        "tests/ingress/test_slow_clients.py",
        "tests/deliverer/test_fairness.py",
        "tests/router/test_team_fairness_flow.py",
        "tests/router/test_rules_flow.py",
        "tests/e2e/test_listen.py",
        "tests/e2e/test_issues_thresholds.py",  # counts what is pending at a moment: flaky loaded
        # Three projections processes with their own engines each, polled against deadlines.
        "tests/projections/test_scale_out.py",
        "tests/projections/test_bulk_replicas.py",
    }
)
# Schemathesis' cases: under pytest-xdist each of its parametrized tests runs one operation's
# cases and reports the rest as nothing at all, so they run in a process of their own.
_CONFORMANCE_FILES = frozenset({"tests/api/test_openapi.py"})
_ROOT = Path(__file__).resolve().parents[1]
# The pure core's own tests (marked `pure`): `make check` and `make test` run them with
# coverage of the pure core ([tool.coverage.run] in pyproject.toml), which must reach every
# branch. A new pure module goes there, its tests here.
_PURE_FOLDERS = ("tests/schemas/",)
_PURE_FILES = frozenset(
    {
        "tests/deliverer/test_retry.py",
        "tests/runtime/test_offsets.py",
        "tests/runtime/test_committed.py",
        "tests/deliverer/test_limits.py",
        "tests/deliverer/test_slots.py",
        "tests/deliverer/test_slot_bounds.py",
        "tests/deliverer/test_attempts.py",
        "tests/deliverer/test_parking.py",
        "tests/deliverer/test_outgoing.py",
        "tests/deliverer/test_signatures.py",
        "tests/deliverer/test_standard_webhooks.py",
        "tests/router/test_routing.py",
        "tests/router/test_dedupe.py",
        "tests/router/test_hops.py",
        "tests/router/test_batching.py",
        # The filter grammar and the query routes as the API and projections hold them.
        "tests/api/test_rules.py",
        "tests/projections/test_operations.py",
        "tests/issues/test_notifications.py",
        "tests/issues/test_freshness.py",
        "tests/fasthook/test_workers.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in _STACK_FOLDERS or _STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
        path = item.path.relative_to(_ROOT).as_posix()
        if path in _SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
        if path in _CONFORMANCE_FILES:
            item.add_marker(pytest.mark.conformance)
        if path in _PURE_FILES or path.startswith(_PURE_FOLDERS):
            item.add_marker(pytest.mark.pure)


# pytest-timeout shows only the threads' stacks, and a test awaiting something that never comes
# shows just the event loop in select: shortly before the timeout, every task's stack goes to
# stderr, which the failure report then holds.
_STACKS_AHEAD_S = 20.0


@pytest.fixture(autouse=True)
async def _task_stacks_before_the_timeout(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    marker = request.node.get_closest_marker("timeout")
    timeout = (
        float(marker.args[0])
        if marker and marker.args
        else request.config.getoption("timeout") or 0.0
    )
    if timeout <= _STACKS_AHEAD_S:
        yield
        return

    def dump() -> None:
        print(
            f"--- {request.node.nodeid}: every task, {_STACKS_AHEAD_S:.0f} s before the timeout",
            file=sys.stderr,
        )
        print(task_stacks(), file=sys.stderr)

    handle = asyncio.get_running_loop().call_later(timeout - _STACKS_AHEAD_S, dump)
    try:
        yield
    finally:
        handle.cancel()
