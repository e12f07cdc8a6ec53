"""Server processes of a benchmark: own session, log to a file, always stopped, readiness polls."""

from __future__ import annotations

import fcntl
import http.client
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]


class Child:
    """A server subprocess; a context manager so a failure or Ctrl-C never leaves it running."""

    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            # Own session: Ctrl-C reaches only us, and we stop the children in order.
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pgid(self) -> int:
        return self.process.pid  # session leader

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.pgid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class TerminalChild(Child):
    """A child on a pseudo-terminal of `columns` x `rows`, as in a developer's terminal (what a
    CLI draws for a person is part of its cost); what it draws is copied to the log."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        columns: int = 160,
        rows: int = 40,
    ) -> None:
        self.name = name
        self.log_path = log_path
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        log_path.touch()  # there from the start, as a Child's log is
        # Drained all along: a terminal nobody reads would block the child's writes.
        threading.Thread(target=self._drain, args=(master,), daemon=True).start()

    def _drain(self, master: int) -> None:
        with open(self.log_path, "ab") as log:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child is gone (EIO)
                    break
                if not data:
                    break
                log.write(data)
                log.flush()
        os.close(master)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def status_of(port: int, method: str, path: str, body: bytes | None = None) -> int | None:
    """One request to 127.0.0.1 (http.client: no proxy settings can reroute it); None if down."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_for(
    child: Child,
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout_s: float = 60.0,
) -> None:
    """Until `method path` answers 200: ready means serving, not just listening."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        child.check_alive()
        if status_of(port, method, path, body) == 200:
            return
        time.sleep(0.02)
    raise RuntimeError(f"{child.name}: {method} {path} not 200 within {timeout_s}s")
