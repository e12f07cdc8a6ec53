"""Services run on uvloop unless FASTHOOK_EVENT_LOOP=asyncio (runtime.serve)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from fasthook.embedded import free_port
from runtime.errors import RuntimeSetupError
from runtime.loops import loop_factory
from runtime.settings import load_settings
from tests.support.poll import eventually

SERVER = textwrap.dedent("""
    import asyncio, sys
    from aiohttp import web
    from runtime.serve import run

    async def kind(request):
        return web.Response(text=type(asyncio.get_running_loop()).__module__)

    app = web.Application()
    app.router.add_get("/loop", kind)
    run(app, "127.0.0.1", int(sys.argv[1]), 5.0, sys.argv[2])
""")


def test_the_setting_names_a_loop():
    assert load_settings({}).event_loop == "uvloop"
    assert load_settings({"FASTHOOK_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
    with pytest.raises(RuntimeSetupError, match="FASTHOOK_EVENT_LOOP='tokio'"):
        loop_factory(load_settings({"FASTHOOK_EVENT_LOOP": "tokio"}).event_loop)


@pytest.mark.parametrize(("name", "module"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
async def test_a_served_app_runs_on_the_chosen_loop(name, module):
    import aiohttp

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), name])
    try:

        async def answer() -> str | None:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{port}/loop") as response,
                ):
                    return await response.text()
            except aiohttp.ClientError:
                assert server.poll() is None, "the server exited"
                return None

        kind = await eventually(answer, 30, "the server answering")
        assert kind.startswith(module)
    finally:
        server.terminate()
        assert await asyncio.to_thread(server.wait, 30) == 0  # a graceful stop on SIGTERM
