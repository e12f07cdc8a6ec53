"""The event loop every service runs on: uvloop (less CPU per socket event, which is most of
what the services do) unless FASTHOOK_EVENT_LOOP=asyncio asks for the standard one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from runtime.errors import RuntimeSetupError

EVENT_LOOPS = ("uvloop", "asyncio")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "asyncio":
        # The standard loop, made directly rather than through the loop policy.
        return asyncio.SelectorEventLoop
    if name == "uvloop":
        import uvloop  # only when chosen: the standard loop needs nothing installed

        return uvloop.new_event_loop
    # Checked here, where it is used (a service fails at start, naming the variable).
    raise RuntimeSetupError(f"FASTHOOK_EVENT_LOOP={name!r}: one of {', '.join(EVENT_LOOPS)}")
