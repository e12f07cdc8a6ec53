"""The event loop every service runs on: uvloop (less CPU per socket event, which is most of
what the services do) unless FASTHOOK_EVENT_LOOP=asyncio asks for the standard one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from runtime.errors import RuntimeSetupError

EVENT_LOOPS = ("uvloop", "asyncio")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "asyncio":
        # The standard policy's loop, made directly: asyncio.new_event_loop would ask the
        # policy, which use_loop replaces.
        return asyncio.SelectorEventLoop
    if name == "uvloop":
        import uvloop  # only when chosen: the standard loop needs nothing installed

        return uvloop.new_event_loop
    # Checked here, where it is used (a service fails at start, naming the variable).
    raise RuntimeSetupError(f"FASTHOOK_EVENT_LOOP={name!r}: one of {', '.join(EVENT_LOOPS)}")


def use_loop(name: str) -> None:
    """For code that makes its own loops (Faust and its consumer thread): every loop this
    process creates from now on is of this kind."""
    factory = loop_factory(name)

    class Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return factory()

    asyncio.set_event_loop_policy(Policy())
