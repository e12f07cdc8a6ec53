"""``/healthz``, ``/readyz`` and ``/metrics`` for every service's aiohttp app.

A service whose port is public (the ingress) serves the health probes there and ``/metrics``
only on a private port of its own (``metrics_site``): its labels name every source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

ReadinessCheck = Callable[[], Mapping[str, bool]]
# More for /readyz's answer beside its checks (progress an operator or a test follows).
ReadinessDetails = Callable[[], Mapping[str, object]]


def health_routes(
    readiness: ReadinessCheck, details: ReadinessDetails | None = None
) -> list[web.RouteDef]:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = dict(readiness())
        ready = all(checks.values())
        return web.json_response(
            {
                "status": "ready" if ready else "not ready",
                "checks": checks,
                **(details() if details else {}),
            },
            status=200 if ready else 503,
        )

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]


def metrics_routes(registry: CollectorRegistry) -> list[web.RouteDef]:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return [web.get("/metrics", metrics)]


def probe_routes(
    registry: CollectorRegistry,
    readiness: ReadinessCheck,
    details: ReadinessDetails | None = None,
) -> list[web.RouteDef]:
    return [*health_routes(readiness, details), *metrics_routes(registry)]


@asynccontextmanager
async def metrics_site(
    registry: CollectorRegistry, host: str, port: int, routes: list[web.RouteDef] | None = None
) -> AsyncIterator[None]:
    """Serve ``/metrics`` (and `routes`) on `host`:`port` while the context is open."""
    app = web.Application()
    app.add_routes([*metrics_routes(registry), *(routes or [])])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()
