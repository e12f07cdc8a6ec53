"""`python -m ingress`: run the ingress with settings from the environment."""

from __future__ import annotations

import logging

from ingress.app import create_app
from ingress.server import listen_lean
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("ingress", settings.log_level, settings.log_format)
    logging.getLogger(__name__).info(
        "ingress starting",
        extra={
            "listen": f"{settings.ingress_host}:{settings.ingress_port}",
            "metrics": f"{settings.ingress_metrics_host}:{settings.ingress_metrics_port}",
            "public_url": settings.public_base_url,
            "workers": settings.worker_count("ingress"),
            "server": settings.ingress_server,
        },
    )
    run(
        create_app(settings),
        settings.ingress_host,
        settings.ingress_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
        reuse_port=settings.worker_count("ingress") > 1,
        backlog=settings.ingress_listen_backlog,
        listen=listen_lean if settings.ingress_server == "lean" else None,
    )


if __name__ == "__main__":
    main()
