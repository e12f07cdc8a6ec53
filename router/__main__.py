"""`python -m router`: run one router worker with settings from the environment."""

from __future__ import annotations

from faust import App, Worker

from router.app import create_app
from runtime.loops import use_loop
from runtime.settings import Settings, load_settings


def make_worker(app: App, settings: Settings) -> Worker:
    worker = Worker(app, loglevel=settings.log_level.lower())
    # Faust's terminal spinner (on at WARNING and above) sets the root logger to DEBUG so that
    # it turns for every message: every debug line of aiokafka and Faust (several per record)
    # would then be made and handled, ~6% of the router's CPU at WARNING.
    worker.spinner = None
    return worker


def main() -> None:
    settings = load_settings()
    # Faust makes its loops itself (the worker's and its consumer thread's).
    use_loop(settings.event_loop)
    make_worker(create_app(settings), settings).execute_from_commandline()


if __name__ == "__main__":
    main()
