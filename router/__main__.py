"""`python -m router`: run one router worker with settings from the environment."""

from __future__ import annotations

from faust import Worker

from router.app import create_app
from runtime.loops import use_loop
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    # Faust makes its loops itself (the worker's and its consumer thread's).
    use_loop(settings.event_loop)
    app = create_app(settings)
    Worker(app, loglevel=settings.log_level.lower()).execute_from_commandline()


if __name__ == "__main__":
    main()
