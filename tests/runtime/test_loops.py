"""Services run on uvloop unless FASTHOOK_EVENT_LOOP=asyncio: serve() and Faust's own loops."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading

import pytest
import uvloop

from fasthook.embedded import free_port
from runtime.errors import RuntimeSetupError
from runtime.loops import loop_factory, use_loop
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


@pytest.mark.parametrize("name", ["uvloop", "asyncio"])
def test_loops_made_elsewhere_follow_the_choice(name):
    saved = asyncio.get_event_loop_policy()
    made: list[asyncio.AbstractEventLoop] = []
    try:
        use_loop(name)
        # As Faust's consumer thread does: a new loop of its own, on another thread.
        thread = threading.Thread(target=lambda: made.append(asyncio.new_event_loop()))
        thread.start()
        thread.join()
        assert isinstance(made[0], uvloop.Loop) == (name == "uvloop")
        assert made[0].run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        for loop in made:
            loop.close()
        asyncio.set_event_loop_policy(saved)
