"""`python -m projections` serves the projector and the query API;
`python -m projections rebuild` replays every topic into fresh tables, then exits."""

from __future__ import annotations

import asyncio
import logging
import sys

from projections.app import create_app
from projections.rebuild import rebuild
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings

USAGE = "usage: python -m projections [serve | rebuild]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command not in ("serve", "rebuild") or len(args) > 1:
        print(USAGE, file=sys.stderr)
        return 2
    settings = load_settings()
    configure_logging("projections", settings.log_level, settings.log_format)
    log = logging.getLogger(__name__)
    if command == "rebuild":
        log.info("rebuild starting")
        asyncio.run(rebuild(settings))
        return 0
    log.info("projections starting")
    run(
        create_app(settings),
        settings.projections_host,
        settings.projections_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
