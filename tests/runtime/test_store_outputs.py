"""`runtime.consuming.store_outputs`: a handled record is finished only once its outputs are
stored; outputs the broker did not take are produced again, never given up on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from runtime.consuming import store_outputs


def resolved(value: Any = None, error: BaseException | None = None) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
    return future


async def test_outputs_the_broker_did_not_take_are_produced_again() -> None:
    produced = 0

    async def produce() -> list[asyncio.Future[Any]]:
        nonlocal produced
        produced += 1
        return [resolved("stored")]

    # The first try's batch expired while the broker was away.
    first = [resolved("stored"), resolved(error=KafkaTimeoutError())]
    assert await store_outputs(produce, first) is True
    assert produced == 1


async def test_a_failure_to_hand_records_over_is_waited_out_too() -> None:
    tries = 0

    async def produce() -> list[asyncio.Future[Any]]:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionResetError("the broker is away")
        return [resolved()]

    assert await store_outputs(produce, None) is True
    assert tries == 3


async def test_giving_up_and_bugs_are_the_callers_to_handle() -> None:
    async def revoked() -> None:
        return None

    assert await store_outputs(revoked, None) is False

    async def bug() -> list[asyncio.Future[Any]]:
        raise KeyError("a bug in routing")

    with pytest.raises(KeyError):
        await store_outputs(bug, None)
