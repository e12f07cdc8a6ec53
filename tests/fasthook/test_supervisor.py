"""The supervisor restarts a child that dies, with backoff, and stops children on request."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from fasthook.supervisor import Backoff, ServiceSpec, Supervisor
from tests.support.poll import eventually


def test_backoff_doubles_up_to_the_cap_and_resets_after_a_stable_run():
    backoff = Backoff(initial_s=0.5, cap_s=4, stable_after_s=60)
    assert [backoff.next_delay(lived_s=1) for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    assert backoff.next_delay(lived_s=61) == 0.5


async def test_a_dying_child_is_restarted_and_logged(tmp_path, caplog):
    marker = tmp_path / "starts"
    script = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(marker)!r})\n"
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x')\n"
        "sys.exit(3)\n"
    )
    supervisor = Supervisor(grace_s=2)
    caplog.set_level(logging.WARNING, logger="fasthook.supervisor")
    supervisor.add(ServiceSpec("crashy", [sys.executable, "-c", script]))
    deadline = time.monotonic() + 10
    while supervisor.restarts["crashy"] < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await supervisor.stop()
    assert supervisor.restarts["crashy"] >= 2
    assert len(marker.read_text()) >= 2  # started, died, started again
    restarts = [r for r in caplog.records if r.getMessage() == "service exited; restarting"]
    assert restarts and restarts[0].exit_code == 3 and restarts[0].child == "crashy"


async def test_stop_terminates_a_long_running_child():
    supervisor = Supervisor(grace_s=5)
    supervisor.add(ServiceSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"]))
    await supervisor.started("sleeper")
    process = supervisor.processes["sleeper"]
    began = time.monotonic()
    await supervisor.stop()
    assert process.returncode is not None
    assert time.monotonic() - began < 5
    assert supervisor.restarts["sleeper"] == 0


async def test_a_child_writes_to_its_log_file_and_each_change_is_told(tmp_path):
    log_file = tmp_path / "logs" / "crashy.log"
    said: list[tuple[str, str, dict]] = []
    script = "import sys; print('hello from the child', flush=True); sys.exit(5)"
    supervisor = Supervisor(grace_s=2, on_change=lambda *change: said.append(change))
    supervisor.add(ServiceSpec("crashy", [sys.executable, "-c", script], log_path=log_file))
    deadline = time.monotonic() + 10
    while supervisor.restarts["crashy"] < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await supervisor.stop()
    states = [state for name, state, _ in said if name == "crashy"]
    assert states[:4] == ["started", "exited", "restarted", "exited"]
    assert said[1][2]["exit_code"] == 5 and said[2][2]["restarts"] == 1
    # Appended across restarts: the crash before stays readable.
    assert log_file.read_text().count("hello from the child") >= 2


async def test_the_workers_of_one_service_stop_together(tmp_path) -> None:
    supervisor = Supervisor(grace_s=10)
    # Each takes a while to stop (as a worker finishing its deliveries would), and notes when
    # it was told to and when it was done.
    script = (
        "import pathlib, signal, sys, time\n"
        "out = pathlib.Path(sys.argv[1])\n"
        "def stop(*_):\n"
        "    out.write_text(f'{time.time()}')\n"
        "    time.sleep(1)\n"
        "    out.write_text(out.read_text() + f' {time.time()}')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "out.write_text('ready')\n"
        "time.sleep(60)\n"
    )
    names = ["router-1", "router-2"]
    for name in names:
        supervisor.add(ServiceSpec(name, [sys.executable, "-c", script, str(tmp_path / name)]))

    async def ready() -> bool:
        return all((tmp_path / n).exists() and (tmp_path / n).read_text() for n in names)

    await eventually(ready, 30, "both children ready")
    await supervisor.stop(order=[names])
    assert all(p.returncode == 0 for p in supervisor.processes.values())
    times = [[float(t) for t in (tmp_path / n).read_text().split()] for n in names]
    told, done = zip(*times, strict=True)
    # Together: each was told to stop before the other was done.
    assert max(told) < min(done), (told, done)
