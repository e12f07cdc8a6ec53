"""`python -m deliverer`: run one deliverer worker with settings from the environment."""

from __future__ import annotations

import logging

from deliverer.app import create_app
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("deliverer", settings.log_level, settings.log_format)
    logging.getLogger(__name__).info("deliverer starting")
    run(
        create_app(settings),
        settings.deliverer_host,
        settings.deliverer_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
    )


if __name__ == "__main__":
    main()
