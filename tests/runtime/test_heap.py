"""A started service freezes its start-up heap and collects its young generation less often
(runtime.heap): the collector's pauses stop holding every event in flight."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import aiohttp

from fasthook.embedded import free_port
from runtime.heap import YOUNG_THRESHOLD
from tests.support.poll import eventually

SERVER = textwrap.dedent("""
    import gc, json, sys
    from aiohttp import web
    from runtime.serve import run

    async def state(request):
        return web.json_response({"frozen": gc.get_freeze_count(),
                                  "threshold": list(gc.get_threshold())})

    app = web.Application()
    app.router.add_get("/gc", state)
    run(app, "127.0.0.1", int(sys.argv[1]), 5.0)
""")

# In a process of its own: the test process's collector stays as it is.
SETTLED = textwrap.dedent("""
    import gc, json, weakref
    from runtime.heap import settle

    class Node:
        pass

    collected = []
    garbage = Node()
    garbage.me = garbage  # a cycle: only the collector frees it
    weakref.finalize(garbage, collected.append, "cycle")
    del garbage
    gc.disable()  # no collection but settle's own
    kept = {"config": [Node() for _ in range(100)]}
    settle()
    print(json.dumps({"collected": collected, "frozen": gc.get_freeze_count(),
                      "kept_tracked": gc.is_tracked(kept),
                      "threshold": list(gc.get_threshold())}))
""")


def test_settle_collects_start_up_garbage_then_freezes_what_is_kept():
    result = subprocess.run(
        [sys.executable, "-c", SETTLED], capture_output=True, text=True, check=True, timeout=60
    )
    state = json.loads(result.stdout)
    assert state["collected"] == ["cycle"]  # collected first, not frozen for ever
    assert state["frozen"] >= 100  # what the process holds: no collection walks it again
    assert state["kept_tracked"]
    assert state["threshold"][0] == YOUNG_THRESHOLD


async def test_a_served_app_settles_once_started():
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:

        async def answer() -> dict[str, object] | None:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{port}/gc") as response,
                ):
                    found: dict[str, object] = await response.json()
                    return found
            except aiohttp.ClientError:
                assert server.poll() is None, "the server exited"
                return None

        state = await eventually(answer, 30, "the server answering")
        assert isinstance(state["frozen"], int) and state["frozen"] > 1000  # aiohttp and all
        assert state["threshold"][0] == YOUNG_THRESHOLD  # type: ignore[index]
    finally:
        server.terminate()
        assert await asyncio.to_thread(server.wait, 30) == 0
