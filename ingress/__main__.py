"""`python -m ingress`: run the ingress with settings from the environment."""

from __future__ import annotations

import logging

from aiohttp import web

from ingress.app import create_app
from runtime.logs import configure_logging
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("ingress", settings.log_level, settings.log_format)
    logging.getLogger(__name__).info(
        "ingress starting",
        extra={"listen": f"{settings.ingress_host}:{settings.ingress_port}",
               "public_url": settings.public_base_url},
    )
    web.run_app(
        create_app(settings),
        host=settings.ingress_host,
        port=settings.ingress_port,
        shutdown_timeout=settings.shutdown_timeout_s,
        access_log=None,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
