"""`python -m api`: run the control-plane API with settings from the environment."""

from __future__ import annotations

import logging

from api.app import create_app
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("api", settings.log_level, settings.log_format)
    logging.getLogger(__name__).info(
        "api starting", extra={"listen": f"{settings.api_host}:{settings.api_port}"}
    )
    run(
        create_app(settings),
        settings.api_host,
        settings.api_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
    )


if __name__ == "__main__":
    main()
