"""`python -m console`: the web console, with settings from the environment."""

from __future__ import annotations

import logging

from console.app import create_app
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("console", settings.log_level, settings.log_format)
    logging.getLogger(__name__).info(
        "console starting",
        extra={
            "listen": f"{settings.console_host}:{settings.console_port}",
            "api": settings.api_base_url,
        },
    )
    run(
        create_app(settings),
        settings.console_host,
        settings.console_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
    )


if __name__ == "__main__":
    main()
