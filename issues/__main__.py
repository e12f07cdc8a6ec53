"""`python -m issues`: run the issues job with settings from the environment."""

from __future__ import annotations

import logging

from issues.app import create_app
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("issues", settings.log_level, settings.log_format)
    logging.getLogger(__name__).info("issues job starting")
    run(
        create_app(settings),
        settings.issues_host,
        settings.issues_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
    )


if __name__ == "__main__":
    main()
