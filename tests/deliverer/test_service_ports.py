"""The gateway's own services are never destinations, even where loopback is allowed; its
ingress is (a destination that is a FastHook source makes a chain, which hops guard)."""

from __future__ import annotations

import pytest

from deliverer.ssrf import DestinationGuard, service_ports
from tests.support.deliverer import (
    attempts_for,
    declare_pipe,
    make_event,
    publish_events,
    start_deliverer,
)
from tests.support.receiver import Receiver

ALLOW = ["127.0.0.1/32", "::1/128"]
API, DELIVERER, INGRESS = 8081, 8083, 8080


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1", "[::1]"])
def test_a_local_address_on_a_service_port_is_blocked(address):
    guard = DestinationGuard([*ALLOW, "127.0.0.0/8"], frozenset({API, DELIVERER}))
    assert guard.blocks(address, API) and guard.blocks(address, DELIVERER)
    assert not guard.blocks(address, INGRESS)
    assert not guard.blocks(address, 9999)


def test_the_same_port_elsewhere_is_not_ours():
    guard = DestinationGuard(["10.0.0.0/8"], frozenset({API}))
    assert not guard.blocks("8.8.8.8", API)
    assert not guard.blocks("10.1.2.3", API)  # another machine of an allowed network
    assert guard.blocks("127.0.0.1", 9999)  # loopback, not allowed here: refused on any port


def test_a_configured_service_host_counts_as_local():
    guard = DestinationGuard(["10.0.0.0/8"], frozenset({API}), frozenset({"10.0.0.5"}))
    assert guard.blocks("10.0.0.5", API)
    assert not guard.blocks("10.0.0.6", API)


def test_service_ports_leave_the_ingress_out(settings):
    ports = service_ports(settings)
    assert {
        settings.api_port,
        settings.router_port,
        settings.deliverer_port,
        settings.projections_port,
    } <= ports
    assert settings.ingress_port not in ports


async def test_deliveries_to_the_gateways_own_ports_are_blocked(producer, settings, bootstrap):
    on_api_port = await Receiver().start()  # stands where the API listens
    on_ingress_port = await Receiver().start()
    running = await start_deliverer(
        settings.with_(api_port=on_api_port.port, ingress_port=on_ingress_port.port)
    )
    try:
        own = running.settings
        targets = [
            f"http://127.0.0.1:{own.api_port}/v1/sources",
            f"http://localhost:{own.api_port}/v1/sources",  # a name, resolved
            f"http://127.0.0.1:{own.deliverer_port}/readyz",
            f"http://127.0.0.1:{own.ingress_port}/src_token",
        ]
        events = []
        for url in targets:
            events.append(make_event(await declare_pipe(producer, settings, url)))
        await publish_events(producer, settings, events)
        found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 4)
        codes = [found[e["event_id"]][-1]["error_code"] for e in events]
        assert codes == ["BLOCKED_DESTINATION"] * 3 + [None]
        assert on_api_port.received == []
        assert len(on_ingress_port.received) == 1
    finally:
        await running.runner.cleanup()
        await on_api_port.stop()
        await on_ingress_port.stop()
