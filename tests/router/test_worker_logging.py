"""The router worker logs at the configured level: Faust's spinner must not turn the root
logger down to DEBUG (every debug line of aiokafka and Faust would then be made per record)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import logging, os, sys
    from router.__main__ import make_worker
    from router.app import create_app
    from runtime.settings import load_settings

    settings = load_settings({}, kafka_bootstrap="127.0.0.1:9", log_level=sys.argv[1],
                             data_dir=sys.argv[2])
    worker = make_worker(create_app(settings), settings)
    worker._setup_logging()
    # Faust redirects stdout and stderr to its logger: the answer goes to the descriptor.
    os.write(1, f"root={logging.root.level}\\n".encode())
""")


@pytest.mark.parametrize("level", ["WARNING", "INFO", "ERROR"])
def test_the_root_logger_stays_at_the_configured_level(level, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, level, str(tmp_path)], capture_output=True, timeout=120
    )
    assert f"root={logging.getLevelName(level)}".encode() in done.stdout, done
