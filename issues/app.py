"""The issues app factory: the job, run by the app's cleanup context, and the probes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from issues.job import IssuesJob
from issues.keys import JOB, METRICS, SETTINGS
from issues.metrics import IssuesMetrics
from runtime.probes import probe_routes
from runtime.settings import Settings


async def job_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    job = IssuesJob(settings, app[METRICS])
    await job.start()
    app[JOB] = job
    try:
        yield
    finally:
        await job.stop(settings.shutdown_timeout_s)


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = IssuesMetrics()

    def readiness() -> dict[str, bool]:
        job = app.get(JOB)
        return {
            "config_view_loaded": job is not None and job.follower.healthy,
            "consuming": job is not None and job.running and job.consuming.is_set(),
        }

    app.cleanup_ctx.append(job_ctx)
    app.add_routes(probe_routes(app[METRICS].registry, readiness))
    return app
