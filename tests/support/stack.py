"""The whole pipeline on loopback: ingress, projections (with the real ClickHouse engine), api,
the router as an OS process, the deliverer, and a receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fasthook.embedded import free_port
from projections.clickhouse import Engine, database_name
from projections.migrations import migrate
from runtime.settings import Settings
from tests.projections.conftest import Service, start_service, stop_service
from tests.support.api import RunningApi, start_api, stop_api
from tests.support.deliverer import RunningDeliverer, start_deliverer
from tests.support.ingress import RunningIngress, start_ingress
from tests.support.processes import ServiceProcess
from tests.support.receiver import Receiver
from tests.support.teardown import run_all


@dataclass
class Stack:
    ingress: RunningIngress
    api: RunningApi
    router: ServiceProcess
    receiver: Receiver
    deliverer: RunningDeliverer
    issues: ServiceProcess | None = None  # the issues job, when asked for
    projections: Service | None = None

    async def restart_issues(self) -> None:
        """SIGKILL the issues job and start it again (its state comes back from Kafka)."""
        assert self.issues is not None
        self.issues.kill()
        self.issues.start()
        await self.issues.wait_ready(
            f"http://127.0.0.1:{self.issues.settings.issues_port}/readyz", 60
        )


async def drop_database(engine: Engine, settings: Settings) -> None:
    """The test's projections database, gone with its stack."""
    await engine.command(f"DROP DATABASE IF EXISTS {database_name(settings)}")


def stack_settings(settings: Settings, engine: Engine) -> Settings:
    """Test settings for a whole stack: loopback destinations allowed, ports of its own, the
    test's database on the session engine."""
    return settings.with_(
        allowed_destinations="127.0.0.1/32",
        router_port=free_port(),
        projections_port=free_port(),
        analysts_port=free_port(),
        issues_port=free_port(),
        clickhouse_dsn=engine.dsn,
        clickhouse_database=settings.topic_namespace,
        projector_batch_ms=50,
    )


@asynccontextmanager
async def running_stack(
    settings: Settings, engine: Engine, tmp_path: Path, receiver: Receiver, *, issues: bool = False
) -> AsyncIterator[Stack]:
    await migrate(engine, database_name(settings), settings.projections_retention_days)
    ingress = await start_ingress(settings)
    settings = settings.with_(public_url=ingress.base_url)
    projections = await start_service(settings)
    api = await start_api(settings)
    router = ServiceProcess("router", settings, tmp_path / "router.log")
    router.start()
    deliverer = await start_deliverer(settings)
    job = ServiceProcess("issues", settings, tmp_path / "issues.log") if issues else None
    if job is not None:
        job.start()
    await receiver.start()
    try:
        await router.wait_ready(f"http://127.0.0.1:{settings.router_port}/readyz", 60)
        if job is not None:
            await job.wait_ready(f"http://127.0.0.1:{settings.issues_port}/readyz", 60)
        yield Stack(ingress, api, router, receiver, deliverer, issues=job, projections=projections)
    finally:
        await run_all(
            [
                ("issues job", job.kill if job is not None else lambda: None),
                ("receiver", receiver.stop),
                ("deliverer", deliverer.runner.cleanup),
                ("router", router.kill),
                ("api", lambda: stop_api(api)),
                ("projections", lambda: stop_service(projections)),
                ("ingress", ingress.runner.cleanup),
                (
                    "database",
                    lambda: drop_database(engine, settings),
                ),
            ]
        )
