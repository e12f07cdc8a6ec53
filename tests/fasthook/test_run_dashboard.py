"""`fasthook run` (what `make run` runs) in a pseudo-terminal, as a new user sees it: the
banner soon, no stack traces or third-party chatter, one line per service state change (a
killed router: exited, restarted, ready again), and `fasthook logs router` reads the log the
terminal did not show."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator

import pexpect
import pytest

from tests.support.supervised import SupervisedStack

# The bound is 15 s on a developer's machine; this one is shared and loaded.
BANNER_WITHIN_S = 45
DASHBOARD_LINE = re.compile(
    r"^\d\d:\d\d:\d\d (broker|ingress|api|router|deliverer|projections|issues|console|fasthook)"
    r"\s+\S"
)
CHATTER = ("Traceback", "Starting...", "GLIBC", '{"ts"', "[INFO]", "WARNING:", "aiokafka")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STYLE = r"(?:\x1b\[[0-9;]*m)*"  # colours between a line's columns


class Terminal:
    def __init__(self, tmp_path) -> None:
        stack = SupervisedStack(tmp_path)  # its free ports and data dir, its env minus…
        stack.env.pop("FASTHOOK_LOG_FORMAT")  # …the log format: the default dashboard
        self.env = stack.env
        self.data_dir = tmp_path / "data"
        self.kafka_port = stack.ports["kafka"]
        self.child: pexpect.spawn | None = None
        self.pids: dict[str, int] = {}
        self.spawn_args: list[str] = []

    def spawn(self) -> pexpect.spawn:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "fasthook", "run", "--kafka-port", str(self.kafka_port), *self.spawn_args],
            env=self.env,
            encoding="utf-8",
            codec_errors="replace",
            timeout=60,
            dimensions=(60, 220),
        )
        return self.child

    def screen(self, text: str) -> list[str]:
        lines = [ANSI.sub("", line).rstrip() for line in text.replace("\r", "").split("\n")]
        for line in lines:
            found = re.search(r"^\d\d:\d\d:\d\d (\w+)\s+(?:started|restarted).*\(pid (\d+)", line)
            if found:
                self.pids[found.group(1)] = int(found.group(2))
        return lines

    def close(self) -> None:
        if self.child is not None and self.child.isalive():
            self.child.kill(signal.SIGKILL)
        for pid in self.pids.values():  # each service runs in its own process group
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def terminal(tmp_path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        term.close()


def fasthook_logs(terminal: Terminal, *args: str) -> tuple[int, str]:
    env = {**terminal.env, "FASTHOOK_DATA_DIR": str(terminal.data_dir)}
    output, status = pexpect.run(
        f"{sys.executable} -m fasthook logs {' '.join(args)}",
        env=env,
        withexitstatus=True,
        timeout=60,
        encoding="utf-8",
    )
    return status, output


def test_run_is_a_dashboard(terminal: Terminal):
    began = time.monotonic()
    child = terminal.spawn()
    child.expect("Ctrl-C stops everything", timeout=BANNER_WITHIN_S)
    took = time.monotonic() - began
    screen = terminal.screen(child.before)
    print(f"banner after {took:.1f}s")
    start = screen.index("FastHook is running on the embedded broker")
    before, banner = screen[:start], screen[start:]
    # Above the banner: only dashboard lines, one per service started.
    assert all(DASHBOARD_LINE.match(line) for line in before if line.strip()), before
    assert {name for name in terminal.pids} >= {
        "broker",
        "ingress",
        "api",
        "router",
        "deliverer",
        "projections",
    }
    assert not [line for line in screen for word in CHATTER if word in line], screen
    assert any(line.startswith("  API key:      fhp_") for line in banner)
    assert any(line.startswith("  Logs:") and str(terminal.data_dir) in line for line in banner)

    # A crash is three lines: it exited, it was restarted, it is ready again.
    os.killpg(terminal.pids["router"], signal.SIGKILL)
    child.expect(
        rf"router\s+{STYLE}exited with code -9 after [\d.]+s; restarting in [\d.]+s"
        r" — killed by SIGKILL \(`fasthook logs router`\)",
        60,
    )
    child.expect(rf"router\s+{STYLE}restarted after a crash", 60)
    child.expect(rf"router\s+{STYLE}ready again", 120)
    terminal.screen(child.before)
    assert "Traceback" not in child.before

    # What the terminal did not show is in the logs.
    status, output = fasthook_logs(terminal, "router")
    assert status == 0, output
    lines = [ANSI.sub("", line) for line in output.splitlines() if line.strip()]
    assert lines and all(" router " in line for line in lines), lines[:5]
    assert any("router starting" in line for line in lines)  # both starts, kept in the file
    status, output = fasthook_logs(terminal, "api", "fasthook", "--json")
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert status == 0 and records and {r["service"] for r in records} <= {"api", "fasthook"}
    assert any(
        r["service"] == "fasthook" and r.get("msg") == "service exited; restarting" for r in records
    )
    status, output = fasthook_logs(terminal, "broker")
    assert (status == 0 and "harmless" in output) or "GLIBC" not in output
    status, output = fasthook_logs(terminal, "nope")
    assert status == 2

    child.sendintr()
    child.expect("stopping", 30)
    child.expect(pexpect.EOF, 90)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Traceback" not in child.before


def test_run_verbose_brings_the_logs_back(terminal: Terminal):
    terminal.spawn_args = ["--verbose"]
    child = terminal.spawn()
    child.expect("Ctrl-C stops everything", timeout=BANNER_WITHIN_S * 2)
    shown = child.before
    child.expect(pexpect.TIMEOUT, timeout=3)  # what the echo still prints after the banner
    screen = terminal.screen(shown + child.before)
    # Every service's own lines, labelled.
    for service in ("ingress", "api", "router", "deliverer", "projections"):
        assert any(
            re.match(rf"^\d\d:\d\d:\d\d\.\d{{3}} {service}\s+INFO", line) for line in screen
        ), (service, screen)
    # The broker's glibc notice, if this system makes it print one: explained, and once.
    assert not [line for line in screen if "GLIBC" in line]
    assert sum("harmless, ignored" in line for line in screen) <= 1
    child.sendintr()
    child.expect(pexpect.EOF, 90)
    child.close()
    assert child.exitstatus == 0
