"""The log files `fasthook run` writes (one per service under `<data dir>/logs/`) and reading
them back: parsed, merged by time, followed as they grow.

Services log JSON lines (runtime.logs); third-party output (the broker's, a traceback)
is plain text and takes the time of the line before it, so a merge keeps it in place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from heapq import merge
from pathlib import Path
from typing import Any

LAUNCHER = "fasthook"
# The order `fasthook run` starts them in (and the order `fasthook logs` lists them in).
SERVICES = (
    "broker",
    "ingress",
    "api",
    "router",
    "deliverer",
    "projections",
    "issues",
    "console",
    LAUNCHER,
)

# Output of a dependency that is harmless, said once in words instead of shown raw.
KNOWN_NOISE: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"weak version `GLIBC_[\d.]+' not found"),
        "the embedded broker's binary asks for a newer glibc symbol it does not need (a weak "
        "reference, not an error): harmless, ignored",
    ),
)
_TEXT_TIME = re.compile(r"^\[?(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})[,.](\d{3})")


def log_dir(data_dir: Path) -> Path:
    return data_dir / "logs"


def log_path(data_dir: Path, service: str) -> Path:
    return log_dir(data_dir) / f"{service}.log"


def service_of(name: str) -> str:
    """The service a log's name belongs to ("router-2", a worker of `fasthook run --workers`,
    → "router")."""
    service, _, index = name.rpartition("-")
    return service if service and index.isdigit() else name


def worker_index(name: str, service: str) -> int | None:
    """2 for "router-2" of "router": the log of one of a service's workers (`fasthook run
    --workers`), None for any other name."""
    prefix, _, index = name.rpartition("-")
    return int(index) if prefix == service and index.isdigit() else None


def named_logs(data_dir: Path, services: Iterable[str]) -> list[str]:
    """The logs of these services: each one's own and, after it, its workers' in order
    (`router-1.log`, `router-2.log`, … when `fasthook run` ran several); a worker's own name
    stands for itself."""
    names: list[str] = []
    for service in services:
        names.append(service)
        workers = {
            index: path.stem
            for path in log_dir(data_dir).glob(f"{service}-*.log")
            if (index := worker_index(path.stem, service)) is not None
        }
        names += [workers[index] for index in sorted(workers)]
    return names


def known_noise(line: str) -> str | None:
    """What a harmless dependency line means, or None for a line worth showing."""
    for pattern, meaning in KNOWN_NOISE:
        if pattern.search(line):
            return meaning
    return None


@dataclass(frozen=True, order=True)
class Entry:
    ts: str
    service: str = field(compare=False)
    line: str = field(compare=False)
    record: dict[str, Any] | None = field(default=None, compare=False)

    def as_json(self) -> dict[str, Any]:
        if self.record is not None:
            return {"service": self.service, **self.record}
        return {"ts": self.ts or None, "service": self.service, "level": "info", "msg": self.line}


def parse(service: str, line: str, previous_ts: str = "") -> Entry:
    """One line of a service's log; a line without a time of its own takes `previous_ts`."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("ts"), str):
            record.pop("service", None)  # the file names the service (the launcher's too)
            return Entry(record["ts"], service, line, record)
    found = _TEXT_TIME.match(line)
    if found:
        day, clock, ms = found.groups()
        return Entry(f"{day}T{clock}.{ms}Z", service, line)
    return Entry(previous_ts, service, line)


def entries(service: str, lines: Iterable[str], ts: str = "") -> Iterator[Entry]:
    for line in lines:
        if not line.strip():
            continue
        entry = parse(service, line, ts)
        ts = entry.ts
        yield entry


def read_merged(data_dir: Path, services: Iterable[str]) -> list[Entry]:
    """Every line of these services' logs, merged by time (each file is already in order)."""
    streams = []
    for service in services:
        path = log_path(data_dir, service)
        if path.exists():
            text = path.read_text(errors="replace")
            streams.append(list(entries(service, text.splitlines())))
    return list(merge(*streams))


class Follower:
    """New lines of some log files since the last call: `tail -f` over several files."""

    def __init__(self, data_dir: Path, services: Iterable[str], from_end: bool = True) -> None:
        self.paths = {service: log_path(data_dir, service) for service in services}
        self.offsets = {
            service: (path.stat().st_size if from_end and path.exists() else 0)
            for service, path in self.paths.items()
        }
        self.partial = dict.fromkeys(self.paths, "")
        self.last_ts = dict.fromkeys(self.paths, "")

    def poll(self) -> list[Entry]:
        found: list[Entry] = []
        for service, path in self.paths.items():
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if size < self.offsets[service]:  # truncated or replaced: start over
                self.offsets[service], self.partial[service] = 0, ""
            if size == self.offsets[service]:
                continue
            with open(path, "rb") as file:
                file.seek(self.offsets[service])
                chunk = file.read(size - self.offsets[service])
            self.offsets[service] = size
            text = self.partial[service] + chunk.decode(errors="replace")
            *complete, self.partial[service] = text.split("\n")
            for entry in entries(service, complete, self.last_ts[service]):
                self.last_ts[service] = entry.ts
                found.append(entry)
        found.sort()
        return found
