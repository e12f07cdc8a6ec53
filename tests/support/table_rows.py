"""`python -m tests.support.table_rows DSN DATABASE`: every row the projector writes, as one
hash per row (of the projected columns' text, NULLs included, after FINAL), per table, as
JSON.

A separate process because a chdb path has one owner process: the test reads a stopped
worker's engine through the same client code the worker used."""

from __future__ import annotations

import asyncio
import json
import sys

from projections.clickhouse import Engine, ident
from projections.rows import COLUMNS


async def row_hashes(dsn: str, db: str) -> dict[str, list[str]]:
    engine = await Engine.open(dsn)
    try:
        out: dict[str, list[str]] = {}
        for table, columns in COLUMNS.items():
            quoted = ", ".join(f"`{column}`" for column in columns)
            rows = await engine.query(
                f"SELECT toString(cityHash64(toString(tuple({quoted})))) AS h "
                f"FROM {ident(db)}.{table} FINAL"
            )
            out[table] = sorted(row["h"] for row in rows)
        return out
    finally:
        await engine.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(row_hashes(sys.argv[1], sys.argv[2]))))
