"""One client API for both ClickHouse targets, through clickhouse-connect.

- production: a ClickHouse server over HTTP (`clickhouse_dsn=http://user:pass@host:8123`);
- embedded default: the chdb engine in this process (`chdb:///abs/path`), which allows one
  owner process per data path and has no async client.

Every call runs in a worker thread (`asyncio.to_thread`) so the event loop never blocks. For
chdb all calls also take one process-wide lock: one engine, one statement at a time, which
also keeps a query from landing on a handle whose previous result stream is still open.
"""

from __future__ import annotations

import asyncio
import os
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from projections.errors import EngineError
from projections.rows import Row
from runtime.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# One lock per event loop (asyncio locks belong to a loop); one loop per process in practice.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def resolve_dsn(settings: Settings) -> str:
    if settings.clickhouse_dsn:
        return settings.clickhouse_dsn
    # chdb compares paths literally: always hand it one absolute spelling.
    return "chdb://" + os.path.realpath(os.path.join(settings.data_dir, "clickhouse"))


def database_name(settings: Settings) -> str:
    """The database of the tables: the setting, or the topic namespace made an identifier."""
    name = settings.clickhouse_database or re.sub(r"[^A-Za-z0-9_]", "_", settings.topic_namespace)
    return ident(name)


def ident(name: str) -> str:
    """A database/table identifier, refused unless plain (never user input, but settings)."""
    if not _IDENTIFIER.match(name):
        raise EngineError(f"{name!r} is not a plain ClickHouse identifier")
    return name


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


class Engine:
    """The projections' handle on ClickHouse. Statements take `{name:Type}` parameters:
    values travel apart from the SQL text, so user input is never formatted into SQL."""

    def __init__(self, client: Client, dsn: str) -> None:
        self._client = client
        self.dsn = dsn
        self.embedded = dsn.startswith("chdb:")

    @classmethod
    async def open(cls, dsn: str, settings: dict[str, int | str] | None = None) -> Engine:
        def connect() -> Client:
            if dsn.startswith("chdb:"):
                return clickhouse_connect.get_client(dsn=dsn, settings=settings or {})
            # No session id: one HTTP client is then safe to share between threads.
            return clickhouse_connect.get_client(
                dsn=dsn, autogenerate_session_id=False, settings=settings or {}
            )

        try:
            client = await asyncio.to_thread(connect)
        except (ClickHouseError, ImportError, OSError, RuntimeError) as exc:
            raise EngineError(f"ClickHouse at {_safe(dsn)} cannot be opened: {exc}") from exc
        return cls(client, dsn)

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            if self.embedded:
                async with _lock():
                    return await asyncio.to_thread(fn, *args, **kwargs)
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ClickHouseError as exc:
            raise EngineError(str(exc)) from exc

    async def query(
        self,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        bytes_columns: Iterable[str] = (),
    ) -> list[Row]:
        """Rows as dicts; `bytes_columns` come back as exact bytes, not decoded text."""
        formats: dict[str, str | dict[str, str]] = {name: "bytes" for name in bytes_columns}

        def run() -> list[Row]:
            result = self._client.query(
                sql, parameters=dict(parameters or {}), column_formats=formats or None
            )
            return list(result.named_results())

        return await self._call(run)

    async def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        await self._call(self._client.command, sql, parameters=dict(parameters or {}))

    async def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if rows:
            await self._call(self._client.insert, table, list(rows), column_names=list(columns))

    async def close(self) -> None:
        await self._call(self._client.close)


def _safe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", dsn)
