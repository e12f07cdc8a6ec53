"""A loop a service cannot work without dies: the service stops gracefully and exits non-zero,
so its supervisor starts it again (runtime.serve.fail) — it never stays up looking ready
while consuming nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from fasthook.embedded import free_port

SERVER = textwrap.dedent("""
    import asyncio, sys
    from aiohttp import web
    from runtime.background import BackgroundTask
    from runtime.serve import run

    async def dies():
        await asyncio.sleep(0.2)
        raise RuntimeError("the broker sent what the client cannot read")

    async def loop_ctx(app):
        task = BackgroundTask("the test's consumer loop")
        task.start(dies())
        yield
        print("cleaned up", flush=True)  # the stop was graceful: cleanup ran

    app = web.Application()
    app.cleanup_ctx.append(loop_ctx)
    run(app, "127.0.0.1", int(sys.argv[1]), 5.0, "asyncio")
""")


def test_a_dead_loop_stops_the_service_gracefully_and_it_exits_non_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVER, str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "cleaned up" in done.stdout
    assert "stopped because the test's consumer loop died" in done.stderr


def test_a_served_app_that_is_stopped_exits_zero() -> None:
    stopped = textwrap.dedent("""
        import asyncio, os, signal, sys
        from aiohttp import web
        from runtime.serve import run

        async def stop_soon(app):
            asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
            yield

        app = web.Application()
        app.cleanup_ctx.append(stop_soon)
        run(app, "127.0.0.1", int(sys.argv[1]), 5.0, "asyncio")
    """)
    done = subprocess.run(
        [sys.executable, "-c", stopped, str(free_port())], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
