"""Running an analyst's statement on the embedded engine, apart from the projector.

Every statement gets a fresh chdb handle on the engine's path (under a millisecond): its
limits and presentation settings are set, then `readonly = 1` (after which nothing can change
them), then `USE` of the analyst's database. chdb handles run concurrently and release the
GIL, and these run on this module's own threads, never under the projector's engine lock nor
in the default executor the projector's calls use: a long analyst query therefore never
queues the projector's inserts or the query API. What they share is CPU and disk, bounded by
`max_threads` per statement, `FASTHOOK_ANALYSTS_MAX_CONCURRENT` statements at once (others
wait, at most the time limit, then get ClickHouse's TOO_MANY_SIMULTANEOUS_QUERIES) and
`max_execution_time`; and the engine runs them at the lowest CPU priority
(`os_thread_priority = 19`, a nice value), so the projector gets the cores first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, TypeVarTuple

# `chdb.connect` is an untyped re-export of this one.
from chdb.state import connect
from chdb.state.sqlitelike import Connection

from projections.analysts.protocol import (
    TOO_MANY_SIMULTANEOUS_QUERIES,
    ClickHouseFailure,
    Incoming,
    escape_param,
    output_format,
    session_settings,
)
from projections.analysts.scope import RELATIONS_SQL, Relation, team_database, team_views
from projections.analysts.statements import Scope, check
from runtime.settings import Settings
from schemas.entities import Analyst

# The nice value of the engine threads running an analyst's statement: the projector, ingress
# and the query API get the CPU first (raising one's own nice value needs no privilege).
ANALYST_NICE = 19
# How often a waiting request looks whether its client is still there.
WATCH_S = 0.5

log = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    fmt: str
    rows_read: int
    bytes_read: int
    elapsed_s: float


def limits(settings: Settings) -> dict[str, int]:
    """The bounds of every analyst statement (also a production analyst's user settings)."""
    return {
        "max_execution_time": int(settings.analysts_max_execution_s),
        "max_memory_usage": settings.analysts_max_memory_bytes,
        "max_result_rows": settings.analysts_max_result_rows,
        "max_result_bytes": settings.analysts_max_result_bytes,
        "max_threads": settings.analysts_max_threads,
        "os_thread_priority": ANALYST_NICE,
    }


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _failure(exc: Exception) -> ClickHouseFailure:
    return ClickHouseFailure.from_engine(str(exc))


def _text(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> str:
    """A statement's answer as raw tab-separated text."""
    text: str = conn.query(sql, "TSVRaw", params=params).bytes().decode()
    return text


class AnalystRunner:
    def __init__(self, dsn: str, database: str, settings: Settings) -> None:
        self.path = os.path.realpath(dsn.removeprefix("chdb://"))
        self.database = database
        self.limits = limits(settings)
        self.wait_s = float(settings.analysts_max_execution_s)
        size = settings.analysts_max_concurrent
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="analyst")
        # Our own short calls (kills, team views) must not wait behind analysts' statements.
        self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyst-ctl")
        self._slots = asyncio.Semaphore(size)
        self._teams: set[str] = set()
        self._team_lock = asyncio.Lock()
        self.version = ""

    async def start(self) -> None:
        self.version = (await self._in_thread(self._version)).strip()

    def close(self) -> None:
        # Running statements end by their own time limit; nothing waits for them here.
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._control.shutdown(wait=False, cancel_futures=True)

    async def _in_thread(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._control, fn, *args)

    def _version(self) -> str:
        conn = connect(self.path)
        try:
            return _text(conn, "SELECT version()")
        finally:
            conn.close()

    async def run(
        self, incoming: Incoming, analyst: Analyst, gone: Callable[[], bool] = lambda: False
    ) -> Answer:
        """The statement's answer. `gone` says the client hung up: its statement is then
        killed (as ClickHouse cancels a readonly HTTP query whose client closed)."""
        chosen = session_settings(incoming.settings, self.limits)
        team = analyst.get("team_id")
        if team:
            await self._ensure_team(team)
            database = team_database(self.database, team)
            if incoming.database not in (None, database, "default"):
                raise ClickHouseFailure(
                    497, "ACCESS_DENIED", f"{analyst['name']} reads database {database} only"
                )
        else:
            database = incoming.database or self.database
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_s)
        except TimeoutError:
            raise ClickHouseFailure(
                TOO_MANY_SIMULTANEOUS_QUERIES,
                "TOO_MANY_SIMULTANEOUS_QUERIES",
                "Too many simultaneous analyst queries",
            ) from None
        tag = uuid.uuid4().hex
        future = asyncio.get_running_loop().run_in_executor(
            self._executor,
            self._execute,
            incoming,
            {**chosen, "log_comment": tag},
            database,
            bool(team),
        )
        # The slot is the thread's, not the request's: it frees when the statement has ended.
        future.add_done_callback(lambda _: self._slots.release())
        while True:
            done, _ = await asyncio.wait({future}, timeout=WATCH_S)
            if done:
                return future.result()
            if gone():
                await self._in_thread(self._kill, tag)
                return await future  # ends at once: QUERY_WAS_CANCELLED

    def _kill(self, tag: str) -> None:
        conn = connect(self.path)
        try:
            conn.query(
                "KILL QUERY WHERE Settings['log_comment'] = {tag:String} ASYNC", params={"tag": tag}
            )
        except RuntimeError:
            log.warning("an analyst statement could not be killed", exc_info=True)
        finally:
            conn.close()

    def _execute(
        self, incoming: Incoming, chosen: dict[str, str], database: str, scoped: bool
    ) -> Answer:
        began = time.monotonic()
        conn = connect(self.path)
        try:
            try:
                databases = frozenset(_text(conn, "SELECT name FROM system.databases").split())
                for name, value in chosen.items():
                    conn.query(f"SET {name} = {_quote(value)}")
                conn.query("SET readonly = 1")
                conn.query(f"USE {database}")
                formatted = _text(
                    conn, "SELECT formatQuery({q:String})", {"q": escape_param(incoming.sql)}
                ).rstrip("\n")
                ast = _text(conn, "EXPLAIN AST " + formatted, incoming.params)
            except RuntimeError as exc:
                raise _failure(exc) from None
            refusal = check(
                ast, formatted, Scope(database if scoped else None, databases, self.database)
            )
            if refusal is not None:
                raise ClickHouseFailure(refusal.code, refusal.name, refusal.message)
            fmt = output_format(formatted, incoming.default_format)
            try:
                result = conn.query(formatted, fmt, params=incoming.params)
            except RuntimeError as exc:
                raise _failure(exc) from None
            return Answer(
                result.bytes(),
                fmt,
                result.rows_read(),
                result.bytes_read(),
                time.monotonic() - began,
            )
        finally:
            conn.close()

    async def _ensure_team(self, team_id: str) -> None:
        """The team's database of filtered views, made (or refreshed) once per process."""
        if team_id in self._teams:
            return
        async with self._team_lock:
            if team_id not in self._teams:
                await self._in_thread(self._create_team_views, team_id)
                self._teams.add(team_id)

    def _create_team_views(self, team_id: str) -> None:
        conn = connect(self.path)
        try:
            rows = _text(conn, RELATIONS_SQL, {"db": self.database})
            relations = [Relation(*line.split("\t")) for line in rows.splitlines() if line]
            for statement in team_views(self.database, team_id, relations):
                conn.query(statement)
        except RuntimeError as exc:
            raise _failure(exc) from None
        finally:
            conn.close()
