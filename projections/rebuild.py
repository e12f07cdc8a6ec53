"""`python -m projections rebuild`: drop the tables, create them again, replay every topic.

Run it with the projections service stopped: the embedded engine has one owner process, and
the replay consumes as the service's own group member, leaving the group's offsets at the end
so the service continues from there when it starts again.
"""

from __future__ import annotations

import logging
import time

from projections.clickhouse import Engine, database_name, resolve_dsn
from projections.layout import Layout
from projections.metrics import ProjectionMetrics
from projections.migrations import drop_all, migrate
from projections.projector import ensure_alone, replay_all
from runtime.settings import Settings

log = logging.getLogger(__name__)


async def rebuild(settings: Settings, engine: Engine | None = None) -> ProjectionMetrics:
    own = engine is None
    engine = engine or await Engine.open(
        resolve_dsn(settings), Layout(settings.clickhouse_cluster).client_settings()
    )
    db = database_name(settings)
    began = time.monotonic()
    metrics = ProjectionMetrics()
    try:
        await ensure_alone(settings, engine, db)  # before any table is dropped
        await drop_all(engine, db, settings.clickhouse_cluster)
        await migrate(engine, db, settings.projections_retention_days, settings.clickhouse_cluster)
        await replay_all(settings, engine, db, metrics)
    finally:
        if own:
            await engine.close()
    log.info("rebuilt", extra={"database": db, "took_s": round(time.monotonic() - began, 3)})
    return metrics
