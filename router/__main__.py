"""`python -m router`: run one router worker with settings from the environment."""

from __future__ import annotations

from faust import Worker

from router.app import create_app
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    app = create_app(settings)
    Worker(app, loglevel=settings.log_level.lower()).execute_from_commandline()


if __name__ == "__main__":
    main()
