"""Every example query in docs/analysts.md runs against the real schema."""

from __future__ import annotations

import re
from pathlib import Path

from projections.clickhouse import Engine

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"


async def test_documented_queries_run(engine: Engine, db: str) -> None:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)
    statements = [s.strip() for block in blocks for s in block.split(";") if s.strip()]
    assert len(statements) >= 10
    for statement in statements:
        # The examples use the connection's database; here each test has its own.
        sql = re.sub(r"\bFROM (\w+)", rf"FROM {db}.\1", statement.replace("…", "x"))
        await engine.query(sql)
