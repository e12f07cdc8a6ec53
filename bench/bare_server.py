"""The ceiling: a bare aiohttp server that answers 200 "ok" and does nothing else.

Same framework, event loop and process model as the ingress, so the gap between the two is
what the ingress itself costs. `python bench/bare_server.py PORT BACKLOG [--reuse-port]`
(several on one port, as `fasthook run --workers` runs the ingress; the ingress's listen
backlog). The loop is the one the services run on: uvloop unless FASTHOOK_EVENT_LOOP=asyncio
(runtime/loops.py).
"""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    if os.environ.get("FASTHOOK_EVENT_LOOP", "uvloop") == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # access_log=None: the ingress runs without one too; its backlog too (aiohttp's 128 drops
    # SYNs in a burst of new connections, and each costs a 1 s SYN retransmission).
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        backlog=int(sys.argv[2]),
        access_log=None,
        print=None,
        reuse_port="--reuse-port" in sys.argv[3:],
    )


if __name__ == "__main__":
    main()
