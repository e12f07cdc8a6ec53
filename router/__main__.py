"""`python -m router`: run one router worker with settings from the environment."""

from __future__ import annotations

import logging

from router.app import create_app
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("router", settings.log_level, settings.log_format)
    logging.getLogger(__name__).info("router starting")
    run(
        create_app(settings),
        settings.router_host,
        settings.router_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
    )


if __name__ == "__main__":
    main()
