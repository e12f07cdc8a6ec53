"""How a session shows its events: interactive (a live list with keys), compact (one line per
event), json (one object per event, for scripts and `jq`) or quiet (failures only).

Data goes to stdout, diagnostics (connection state, failures in quiet mode) to stderr. The
key handling and the selection are pure functions (`keys_of`, `moved`); the terminal work is
`rich`'s.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import termios
import time
import tty
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from fasthook.listen.forward import Forwarded

OUTPUTS = ("interactive", "compact", "json", "quiet")
KEYS: dict[str, str] = {
    "\x1b[A": "up",
    "\x1bOA": "up",
    "k": "up",
    "\x1b[B": "down",
    "\x1bOB": "down",
    "j": "down",
    "r": "retry",
    "d": "data",
    "o": "open",
    "q": "quit",
    "\x03": "quit",
}
HELP = "↑/↓ select · r retry · d show data · o open in console · q quit"
# Redraws at most four times a second (rich.Live's own default rate): a burst of events is
# one redraw, not one per event (drawing the list costs more than forwarding an event). A key
# or a message redraws at once.
REDRAW_EVERY_S = 0.25
PATH_WIDTH = 48  # a longer path pushes the columns after it, no further
# The events kept for selection (with their data): a long session must not grow without end.
ROWS_KEPT = 1000
BODY_SHOWN = 2000


def keys_of(typed: str) -> list[str]:
    """The actions in what was typed (escape sequences of arrow keys included); unknown keys
    are skipped."""
    actions, i = [], 0
    while i < len(typed):
        for length in (3, 1):
            action = KEYS.get(typed[i : i + length])
            if action is not None:
                actions.append(action)
                i += length
                break
        else:
            i += 1
    return actions


def moved(selected: int | None, count: int, action: str) -> int | None:
    """The selected row after `action`: None follows the newest event (the last row)."""
    if count == 0:
        return None
    current = count - 1 if selected is None else selected
    if action == "up":
        return max(0, current - 1)
    if action == "down":
        return None if current + 1 >= count - 1 else current + 1
    return selected


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def local_answer(record: Forwarded) -> str:
    return (
        str(record.local_status)
        if record.local_status is not None
        else (record.error_code or "ERROR")
    )


def compact_line(record: Forwarded) -> str:
    mark = "OK  " if record.ok else "FAIL"
    return (
        f"{clock(record.at)} {mark} {record.method} {record.path} → {local_answer(record)} "
        f"({record.latency_ms} ms) {record.event_id} attempt {record.attempt}"
    )


class Renderer(Protocol):
    def start(self) -> None: ...
    def forwarded(self, record: Forwarded) -> None: ...
    def state(self, message: str) -> None: ...
    def stop(self) -> None: ...


class Lines:
    """compact, json and quiet: append-only lines."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.err = Console(stderr=True, highlight=False)

    def start(self) -> None:
        pass

    def forwarded(self, record: Forwarded) -> None:
        if self.mode == "json":
            print(json.dumps(record.summary()), flush=True)
        elif self.mode == "compact":
            print(compact_line(record), flush=True)
        elif not record.ok:
            self.err.print(compact_line(record), markup=False)

    def state(self, message: str) -> None:
        self.err.print(f"fasthook listen: {message}", markup=False)

    def stop(self) -> None:
        pass


Retry = Callable[[str], Awaitable[str]]


class Interactive:
    """A live list of the session's events; keys act on the selected one."""

    def __init__(
        self,
        retry: Retry,
        console_url: Callable[[str], str],
        quit_: Callable[[], None],
        spawn: Callable[[Awaitable[Any]], None],
    ) -> None:
        self.console = Console(highlight=False)
        self.rows: list[Forwarded] = []
        self.selected: int | None = None
        self.message = ""
        self.retry, self.console_url, self.quit, self.spawn = retry, console_url, quit_, spawn
        self.live: Live | None = None
        self._saved: Any = None
        self._redraw: asyncio.TimerHandle | None = None

    # --- drawing ------------------------------------------------------------------------
    def _table(self) -> Text:
        """The newest rows that fit, as padded lines: one Text, not a rich Table, whose
        layout costs a hundred times more per redraw."""
        shown = max(3, self.console.height - 6)
        first = max(0, len(self.rows) - shown)
        chosen = len(self.rows) - 1 if self.selected is None else self.selected
        rows = self.rows[first:]
        path_width = min(PATH_WIDTH, max([4, *(len(row.path) for row in rows)]))
        local_width = max([5, *(len(local_answer(row)) for row in rows)])
        table = Text(no_wrap=True, overflow="ellipsis")
        table.append(
            f"  {'time':<8} {'status':<6} {'method':<7} {'path':<{path_width}} "
            f"{'local':<{local_width}} {'latency':>9}  event",
            style="bold",
        )
        for index, row in enumerate(rows, start=first):
            style = "green" if row.ok else "red"
            table.append(f"\n{'>' if index == chosen else ' '} {clock(row.at)} ")
            table.append(f"{'OK' if row.ok else 'FAIL':<6}", style=style)
            table.append(f" {row.method:<7} {row.path:<{path_width}} ")
            table.append(f"{local_answer(row):<{local_width}}", style=style)
            table.append(f" {row.latency_ms:>6} ms  {row.event_id} #{row.attempt}")
        return table

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = [self._table(), Text(HELP, style="dim")]
        if self.message:
            parts.append(Text(self.message))
        return Group(*parts)

    def _chosen(self) -> Forwarded | None:
        if not self.rows:
            return None
        return self.rows[len(self.rows) - 1 if self.selected is None else self.selected]

    # --- what happens -------------------------------------------------------------------
    def start(self) -> None:
        fd = sys.stdin.fileno()
        if os.isatty(fd):
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            asyncio.get_running_loop().add_reader(fd, self._typed, fd)
        # Drawn when something changes (an event, a key, a message), not on a timer: an idle
        # session costs no CPU.
        self.live = Live(
            self,
            console=self.console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

    def stop(self) -> None:
        if self._redraw is not None:
            self._redraw.cancel()
            self._redraw = None
        if self.live is not None:
            self.live.refresh()  # the last events, should a redraw still be due
            self.live.stop()
        if self._saved is not None:
            fd = sys.stdin.fileno()
            asyncio.get_running_loop().remove_reader(fd)
            termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)

    def forwarded(self, record: Forwarded) -> None:
        self.rows.append(record)
        if len(self.rows) > ROWS_KEPT:
            del self.rows[0]
            if self.selected is not None:
                self.selected = max(0, self.selected - 1)
        self._soon()

    def state(self, message: str) -> None:
        self.message = message
        self._refresh()

    def _soon(self) -> None:
        if self._redraw is None and self.live is not None:
            self._redraw = asyncio.get_running_loop().call_later(REDRAW_EVERY_S, self._refresh)

    def _refresh(self) -> None:
        if self._redraw is not None:
            self._redraw.cancel()
            self._redraw = None
        if self.live is not None:
            self.live.refresh()

    def _typed(self, fd: int) -> None:
        for action in keys_of(os.read(fd, 64).decode("utf-8", "replace")):
            self.act(action)

    def act(self, action: str) -> None:
        if action in ("up", "down"):
            self.selected = moved(self.selected, len(self.rows), action)
        elif action == "quit":
            self.quit()
        else:
            row = self._chosen()
            if row is None:
                self.message = "no event yet"
            elif action == "retry":
                self.message = f"retrying {row.event_id}…"
                self.spawn(self._retry(row.event_id))
            elif action == "open":
                self.message = f"open {self.console_url(row.event_id)}"
            elif action == "data":
                self.console.print(details(row))
        self._refresh()

    async def _retry(self, event_id: str) -> None:
        self.message = await self.retry(event_id)
        self._refresh()


def details(record: Forwarded) -> Panel:
    headers = "\n".join(f"{k}: {v}" for k, v in record.request_headers)
    body = record.request_body.decode("utf-8", "replace")[:BODY_SHOWN]
    answer = record.response_body.decode("utf-8", "replace")[:BODY_SHOWN]
    text = (
        f"{record.method} {record.url}\n{headers}\n\n{body}\n\n"
        f"→ {local_answer(record)} in {record.latency_ms} ms"
        + (f": {record.error}" if record.error else "")
        + (f"\n{answer}" if answer else "")
    )
    return Panel(
        Text(text), title=f"{record.event_id} attempt {record.attempt}", title_align="left"
    )
