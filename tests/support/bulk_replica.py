"""`python -m tests.support.bulk_replica`: the projections service exactly as
`python -m projections` serves it, with its bulk jobs slowed down — pages of
`FASTHOOK_TEST_BULK_PAGE_SIZE` items, `FASTHOOK_TEST_BULK_PAUSE_S` apart — so a test can kill
the replica in the middle of a job."""

from __future__ import annotations

import os

from projections.app import create_app
from projections.keys import BULK
from runtime.logs import configure_logging
from runtime.serve import run
from runtime.settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("projections", settings.log_level, settings.log_format)
    app = create_app(settings)
    app[BULK].page_size = int(os.environ["FASTHOOK_TEST_BULK_PAGE_SIZE"])
    app[BULK].pause_s = float(os.environ["FASTHOOK_TEST_BULK_PAUSE_S"])
    run(
        app,
        settings.projections_host,
        settings.projections_port,
        settings.shutdown_timeout_s,
        settings.event_loop,
    )


if __name__ == "__main__":
    main()
