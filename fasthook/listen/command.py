"""The `fasthook listen` command (Click), and how it runs a session until Ctrl-C.

Exit codes (API.md): 0 stopped by the user, 1 the API refused or failed, 2 usage (bad option,
filter that is not JSON, no API configured), 4 a source or destination not found.

A local server that is down at start is said in one line, then the session waits: it stays
connected, events sent meanwhile fail (CONNECTION_REFUSED) and the connection's retry rule
sends them again, and a line says when the server answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import click

from fasthook.listen.api import Api, ApiTarget
from fasthook.listen.client import Hooks, SessionClient
from fasthook.listen.errors import ListenError, UsageError
from fasthook.listen.forward import Forwarder, local_base, local_port, reachable
from fasthook.listen.output import OUTPUTS, Interactive, Lines, Renderer
from fasthook.listen.provision import filter_rule, provision, session_name
from runtime import heap, loops
from runtime.settings import variable

LOCAL_CHECK_EVERY_S = 1.0
EXAMPLES = """
\b
Examples:
  fasthook listen 3000 --source twilio
  fasthook listen http://localhost:8000/hooks --source twilio --source src_01J… --output json
  fasthook listen 3000 --source twilio --path /webhooks/twilio/status \\
      --filter-body '{"MessageStatus": {"$in": ["failed", "undelivered"]}}'
"""


def json_option(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise UsageError(f"{option} is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError(f'{option} must be a JSON object, e.g. \'{{"MessageStatus": "failed"}}\'')
    return parsed


CONSOLE_PORT = 8086  # the console's default port (FASTHOOK_CONSOLE_PORT), beside the API


def console_url(api_url: str, event_id: str) -> str:
    """The event's page in the console: FASTHOOK_CONSOLE_URL, else the console's default port
    on the API's host (what `fasthook run` serves)."""
    base = os.environ.get("FASTHOOK_CONSOLE_URL", "").rstrip("/")
    if not base:
        api = urlsplit(api_url)
        base = f"{api.scheme}://{api.hostname}:{CONSOLE_PORT}"
    return f"{base}/events/{event_id}"


class Listening:
    """One session: provisioned, connected, rendering, until stopped."""

    def __init__(self, target: str, output: str) -> None:
        self.target = target
        self.output = output
        self.stop = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def renderer(self, api: Api) -> Renderer:
        if self.output != "interactive":
            return Lines(self.output)

        async def retry(event_id: str) -> str:
            try:
                await api.call("POST", f"/v1/events/{event_id}/retry")
            except ListenError as exc:
                return f"retry of {event_id} refused: {exc}"
            return f"retry of {event_id} requested"

        return Interactive(
            retry, lambda e: console_url(api.target.url, e), self.stop.set, self.spawn
        )

    async def watch_local(self, renderer: Renderer) -> None:
        """Say once whether the local server is down at start, and when it comes up."""
        why = await reachable(self.target)
        if why is None:
            return
        renderer.state(
            f"nothing answers at {local_base(self.target)} ({why}); waiting for "
            "it — events meanwhile fail and are retried by the connection's retry "
            "rule"
        )
        while True:  # polling a TCP port: there is no event to wait on
            await asyncio.sleep(LOCAL_CHECK_EVERY_S)
            if await reachable(self.target) is None:
                break
        renderer.state(f"{local_base(self.target)} answers now")

    async def run(
        self, sources: list[str], name: str, path: str | None, wanted_filter: dict[str, Any] | None
    ) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        api_target = ApiTarget.from_env()
        async with aiohttp.ClientSession() as http, Forwarder(self.target) as forwarder:
            api = Api(api_target, http)
            session = await provision(api, sources, name, path, wanted_filter)
            destination = session.destination
            names = ", ".join(s["name"] for s in session.sources)
            click.echo(
                f"fasthook listen: {names} → CLI destination {destination['name']} "
                f"({destination['id']}) → {local_base(self.target)}{path or ''}",
                err=True,
            )
            renderer = self.renderer(api)
            renderer.start()
            heap.settle()  # provisioned and drawing: no collection walks all that again
            try:
                client = SessionClient(
                    api, destination, forwarder, Hooks(renderer.forwarded, renderer.state)
                )
                self.spawn(self.watch_local(renderer))
                running = asyncio.ensure_future(client.run())
                stopping = asyncio.ensure_future(self.stop.wait())
                await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
                for task in (running, stopping, *self.tasks):
                    task.cancel()
                if running.done() and not running.cancelled():
                    running.result()  # a fatal refusal: ListenError
            finally:
                renderer.stop()
        return 0


@click.command("listen", epilog=EXAMPLES)
@click.argument("target", metavar="PORT|URL")
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    metavar="NAME|ID",
    help="A source whose events to forward (repeatable).",
)
@click.option(
    "--path", metavar="/PATH", help="Path on the local server, before the request's own path."
)
@click.option("--filter-body", metavar="JSON", help="Forward only events whose body matches.")
@click.option("--filter-headers", metavar="JSON", help="Forward only events whose headers match.")
@click.option(
    "--output",
    type=click.Choice(OUTPUTS),
    help="interactive (default on a terminal), compact (default otherwise), json "
    "(one object per event on stdout) or quiet (failures only, on stderr).",
)
@click.option(
    "--name",
    metavar="NAME",
    help="The session's name: its CLI destination (default cli-USER-HOST-PORT).",
)
def listen(
    target: str,
    sources: tuple[str, ...],
    path: str | None,
    filter_body: str | None,
    filter_headers: str | None,
    output: str | None,
    name: str | None,
) -> int:
    """Forward the events of SOURCE(s) to a local server at PORT or URL.

    The CLI dials out to the FastHook API (FASTHOOK_API_URL, FASTHOOK_API_KEY): nothing needs
    to reach this machine. Each forward is a real attempt, signed and recorded like any other.
    """
    if path is not None and not path.startswith("/"):
        raise click.BadParameter("must start with /", param_hint="--path")
    wanted = filter_rule(
        json_option(filter_body, "--filter-body"), json_option(filter_headers, "--filter-headers")
    )
    # A dumb terminal cannot redraw a live list: it gets lines.
    terminal = (
        sys.stdout.isatty()
        and sys.stdin.isatty()
        and os.environ.get("TERM", "") not in ("dumb", "unknown")
    )
    mode = output or ("interactive" if terminal else "compact")
    if mode == "interactive" and not terminal:
        click.echo("fasthook listen: not a terminal; showing compact lines", err=True)
        mode = "compact"
    listening = Listening(target, mode)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(
            listening.run(list(sources), name or session_name(local_port(target)), path, wanted)
        )


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The services' loop (uvloop unless FASTHOOK_EVENT_LOOP=asyncio): every event crosses two
    sockets of this process, and libuv's transports cost a fraction of asyncio's own per
    write."""
    return loops.loop_factory(os.environ.get(variable("event_loop"), loops.EVENT_LOOPS[0]))


def main(args: list[str]) -> int:
    """Run `fasthook listen ARGS` and say how it ended, as an exit code."""
    try:
        result = listen.main(args=args, prog_name="fasthook listen", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        return 130
    except ListenError as exc:
        click.echo(f"fasthook listen: {exc}", err=True)
        return exc.exit_code
    return result if isinstance(result, int) else 0
