"""What `fasthook run` shows on the terminal: the banner, one line per service state change
(started, exited, restarted, unhealthy, healthy again) and warnings that need someone — the
services' own logs go to files (fasthook.logfiles), unless --verbose echoes them here too.

The decisions (what a change means, when a service counts as unhealthy) are pure; the
Dashboard only prints them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from fasthook.logfiles import SERVICES, Entry, Follower, known_noise, parse, service_of

if TYPE_CHECKING:
    import aiohttp

COLOURS = {
    "broker": "magenta",
    "ingress": "cyan",
    "api": "green",
    "router": "yellow",
    "deliverer": "blue",
    "projections": "bright_magenta",
    "issues": "red",
    "console": "bright_cyan",
    "fasthook": "white",
}
LEVELS = {"warning": "yellow", "error": "bold red", "critical": "bold red"}
# Fields every JSON line has, shown in their own columns (the rest follow as key=value).
SHOWN = ("ts", "level", "logger", "msg", "exc", "service")
WIDTH = max(len(s) for s in SERVICES)
# Failed probes in a row before a service that was ready is called unhealthy.
UNHEALTHY_AFTER = 3
PROBE_EVERY_S = 2.0


def human(entry: Entry) -> Text:
    """One log entry as a line for people: time, service, level, message, its fields."""
    clock = entry.ts[11:23] if len(entry.ts) >= 23 else " " * 12
    text = Text()
    text.append(f"{clock} ", style="dim")
    text.append(f"{entry.service:<{WIDTH}} ", style=COLOURS.get(service_of(entry.service), "white"))
    record = entry.record
    if record is None:
        meaning = known_noise(entry.line)
        text.append(f"({meaning})" if meaning else entry.line)
        return text
    level = str(record.get("level", "info"))
    text.append(f"{level.upper():<7} ", style=LEVELS.get(level, ""))
    text.append(str(record.get("msg", "")))
    extras = [f"{k}={_value(v)}" for k, v in record.items() if k not in SHOWN]
    if extras:
        text.append("  " + " ".join(extras), style="dim")
    if record.get("exc"):
        text.append("\n" + str(record["exc"]), style="red")
    return text


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def change_line(service: str, state: str, details: dict[str, Any]) -> tuple[str, str]:
    """(text, style) of a supervisor's state change."""
    if state == "started":
        return f"started (pid {details.get('pid')})", "green"
    if state == "restarted":
        return (
            f"restarted after a crash (pid {details.get('pid')}, restart "
            f"#{details.get('restarts')})",
            "yellow",
        )
    if state == "exited":
        code = details.get("exit_code")
        cause = details.get("cause")
        if isinstance(code, int) and code < 0 and not cause:
            cause = f"killed by {signal.Signals(-code).name}"
        return (
            f"exited with code {details.get('exit_code')} after {details.get('lived_s')}s; "
            f"restarting in {details.get('restart_in_s')}s"
            + (f" — {cause}" if cause else "")
            + f" (`fasthook logs {service}`)",
            "bold red",
        )
    return state, ""


@dataclass
class Health:
    """A service's readiness as the dashboard tells it: a line only when it changes."""

    state: str = "starting"  # starting | ready | unhealthy | down
    failures: int = 0
    restarted: bool = False

    def exited(self) -> None:
        self.state, self.failures = "down", 0

    def respawned(self) -> None:
        self.state, self.restarted = "starting", True

    def observe(self, ready: bool) -> tuple[str, str] | None:
        if ready:
            self.failures = 0
            before, self.state = self.state, "ready"
            if before == "unhealthy":
                return "healthy again", "green"
            if before == "starting" and self.restarted:
                self.restarted = False
                return "ready again", "green"
            return None
        if self.state != "ready":
            return None
        self.failures += 1
        if self.failures < UNHEALTHY_AFTER:
            return None
        self.state = "unhealthy"
        return (
            f"unhealthy: /readyz failed {self.failures} times in a row — "
            f"`fasthook logs {{service}}` shows why",
            "bold yellow",
        )


def last_error(path: Path, since: int = 0, window: int = 40) -> str | None:
    """The last line of a log's tail (written after offset `since`: this run's) that says what
    went wrong, for a crash's one line."""
    try:
        with open(path, "rb") as file:
            file.seek(max(since, file.seek(0, 2) - 16_384))
            tail = file.read().decode(errors="replace").splitlines()[-window:]
    except OSError:
        return None
    return error_in(tail)


def error_in(lines: list[str]) -> str | None:
    """A crash's cause in a log's last lines: an exception's last line, or an error record."""
    for line in reversed(lines):
        entry = parse("", line)
        record = entry.record
        if record is not None and record.get("exc"):
            return str(record["exc"]).strip().splitlines()[-1][:200]
        if record is not None and record.get("level") in ("error", "critical"):
            return str(record.get("msg", ""))[:200]
        if record is None and _EXCEPTION.match(line.strip()):
            return line.strip()[:200]
    return None


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*")


class Dashboard:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.health: dict[str, Health] = {}
        self.explained: set[str] = set()

    def line(self, service: str, text: str, style: str = "") -> None:
        out = Text()
        out.append(time.strftime("%H:%M:%S") + " ", style="dim")
        out.append(f"{service:<{WIDTH}} ", style=COLOURS.get(service_of(service), "white"))
        out.append(text, style=style)
        self.console.print(out, soft_wrap=True)  # the terminal wraps; a log file keeps lines

    def print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def on_change(self, service: str, state: str, details: dict[str, Any]) -> None:
        health = self.health.setdefault(service, Health())
        if state == "exited":
            health.exited()
            if details.get("log_path"):
                cause = last_error(Path(details["log_path"]), details.get("log_from", 0))
                details = {**details, "cause": cause}
        elif state == "restarted":
            health.respawned()
        self.line(service, *change_line(service, state, details))

    async def probe(self, urls: dict[str, str]) -> None:
        """Forever: poll each service's /readyz, print a line when its health changes."""
        import aiohttp  # here, not at the top: `fasthook logs` shares this module and starts fast

        async with aiohttp.ClientSession() as http:
            while True:
                for service, url in urls.items():
                    ready = await _ready(http, url)
                    said = self.health.setdefault(service, Health()).observe(ready)
                    if said is not None:
                        self.line(service, said[0].replace("{service}", service), said[1])
                await asyncio.sleep(PROBE_EVERY_S)

    async def echo(self, follower: Follower) -> None:
        """--verbose: every new log line on the terminal too (a harmless one explained once)."""
        while True:
            for entry in follower.poll():
                meaning = known_noise(entry.line) if entry.record is None else None
                if meaning is not None:
                    if meaning in self.explained:
                        continue
                    self.explained.add(meaning)
                self.console.print(human(entry), soft_wrap=True)
            await asyncio.sleep(0.2)


async def _ready(http: aiohttp.ClientSession, url: str) -> bool:
    import aiohttp

    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


class TerminalHandler(logging.Handler):
    """The launcher's own warnings on the dashboard (its full log is in fasthook.log)."""

    OURS = ("fasthook", "api", "runtime", "schemas")

    def __init__(self, dashboard: Dashboard, formatter: logging.Formatter) -> None:
        super().__init__(logging.WARNING)
        self.dashboard = dashboard
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] not in self.OURS:
            return  # a library's warning: in the file, not on the dashboard
        if hasattr(record, "child"):
            return  # a supervisor's record about a service: its dashboard line says it
        try:
            entry = parse("fasthook", self.format(record))
            self.dashboard.console.print(human(entry), soft_wrap=True)
        except Exception:
            self.handleError(record)
