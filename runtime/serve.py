"""Running a service's aiohttp app until SIGTERM/SIGINT, then stopping gracefully.

aiohttp's own shutdown cancels a handler that is still reading its request body, which would
turn a provider's in-flight request into a dropped connection. So: stop listening, wait for
every in-flight request to be answered (bounded), and only then clean up the Kafka clients.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from runtime.heap import settle
from runtime.loops import loop_factory

log = logging.getLogger(__name__)

# Connections accepted by the kernel and waiting for the process (listen(2)'s backlog). Past
# it, a client's SYN is dropped and it retries only after 1 s (its SYN retransmission), so a
# burst of new connections, or a short stall of the loop, turns into 1 s stalls. aiohttp's
# default is 128; the kernel caps this at net.core.somaxconn (4096 on recent Linux).
LISTEN_BACKLOG = 1024


class _Service:
    """The service `serve` runs in this process, as far as its loops need to know."""

    stop: asyncio.Event | None = None
    failed: str | None = None


_SERVICE = _Service()


def fail(what: str) -> None:
    """A loop the service cannot work without has died: stop the service as SIGTERM would
    (in-flight work answered, what finished committed) and exit non-zero, so that its
    supervisor (`fasthook run`, Kubernetes) starts it again. Left up, the process would look
    alive and ready while its partitions stalled for good."""
    log.critical("%s died: stopping the service so that it is restarted", what)
    _SERVICE.failed = what
    if _SERVICE.stop is not None:
        _SERVICE.stop.set()


class InFlight:
    """Counts requests being handled, so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            # A socket held open for hours is no request to wait for: its app closes it on
            # shutdown (the client reconnects to the next instance).
            return await handler(request)
        with self:
            return await handler(request)

    def __enter__(self) -> None:
        """Count one request in flight until the block ends: for a handler that counts itself,
        which costs less than a middleware around every request of the app."""
        self.count += 1
        self._idle.clear()

    def __exit__(self, *exc_info: object) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


IN_FLIGHT = web.AppKey("in_flight", InFlight)


class Listening(Protocol):
    """A server other than aiohttp's on the app's port (the ingress's lean server)."""

    async def stop(self) -> None:
        """Stop accepting connections; the requests in flight are still answered."""

    async def close(self) -> None:
        """Close every connection left."""


# (app, host, port, reuse_port, backlog): starts listening for the started app.
Listen = Callable[[web.Application, str, int, bool, int], Awaitable[Listening]]


class _AiohttpSite:
    def __init__(self, site: web.TCPSite) -> None:
        self._site = site

    async def stop(self) -> None:
        await self._site.stop()

    async def close(self) -> None:
        """aiohttp's runner closes its connections itself."""


async def _listen(
    runner: web.AppRunner,
    listen: Listen | None,
    host: str,
    port: int,
    reuse_port: bool,
    backlog: int,
) -> Listening:
    if listen is not None:
        return await listen(runner.app, host, port, reuse_port, backlog)
    # reuse_port: several processes of one service on the one port (`fasthook run --workers`),
    # the kernel spreading connections over them.
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=backlog)
    await site.start()
    return _AiohttpSite(site)


def track_in_flight(app: web.Application, *, middleware: bool = True) -> None:
    """Have `serve` wait for the app's requests on shutdown: every request (the middleware), or
    only those whose handlers enter `app[IN_FLIGHT]` themselves (`middleware=False`)."""
    app[IN_FLIGHT] = InFlight()
    if middleware:
        app.middlewares.append(app[IN_FLIGHT].middleware)


async def serve(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout_s: float,
    reuse_port: bool = False,
    backlog: int = LISTEN_BACKLOG,
    listen: Listen | None = None,
) -> None:
    """Serve `app` until SIGTERM/SIGINT: on aiohttp's server, or on what `listen` starts (the
    app's startup and cleanup are aiohttp's either way)."""
    stop = _SERVICE.stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout_s
    )
    await runner.setup()
    site = await _listen(runner, listen, host, port, reuse_port, backlog)
    settle()  # started: what it holds now lives as long as the process
    try:
        await stop.wait()
        began = time.monotonic()
        await site.stop()
        in_flight = app.get(IN_FLIGHT)
        if in_flight is not None and not await in_flight.drained(shutdown_timeout_s):
            log.warning("stopping with requests still in flight", extra={"count": in_flight.count})
        log.info(
            "stopped listening; in-flight requests answered",
            extra={"took_s": round(time.monotonic() - began, 3)},
        )
    finally:
        await site.close()
        await runner.cleanup()
        _SERVICE.stop = None


def run(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout_s: float,
    event_loop: str = "uvloop",
    reuse_port: bool = False,
    backlog: int = LISTEN_BACKLOG,
    listen: Listen | None = None,
) -> None:
    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        runner.run(serve(app, host, port, shutdown_timeout_s, reuse_port, backlog, listen))
    if _SERVICE.failed is not None:
        raise SystemExit(f"stopped because {_SERVICE.failed} died")
