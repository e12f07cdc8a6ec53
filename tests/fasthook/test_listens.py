"""The ports `fasthook run` checks before it starts, each named by the variable that moves it."""

from __future__ import annotations

import socket

import pytest

from fasthook.embedded import free_port
from fasthook.errors import EmbeddedStackError
from fasthook.stack import check_ports, listens
from runtime.settings import Settings, load_settings, settings_environment


def test_each_port_is_named_by_the_variable_that_moves_it() -> None:
    settings = Settings(api_port=free_port(), console_port=free_port())
    env = settings_environment(settings)
    ports = listens(settings, kafka_port=None)
    assert len(ports) == 9  # eight services' ports and the analysts' endpoint
    for what, _host, port, name in ports:
        assert env[name] == str(port), what
        moved = load_settings({**env, name: str(port + 1)})
        assert settings_environment(moved)[name] == str(port + 1), what


def test_a_clickhouse_server_has_no_analysts_endpoint_and_the_broker_comes_first() -> None:
    settings = Settings(clickhouse_dsn="http://clickhouse:8123")
    ports = listens(settings, kafka_port=9092)
    assert ports[0] == ("embedded broker", "127.0.0.1", 9092, "--kafka-port")
    assert "FASTHOOK_ANALYSTS_PORT" not in [name for *_, name in ports]


def test_a_public_port_shared_by_someone_else_with_so_reuseport_is_refused() -> None:
    """Ingress workers bind the public port with SO_REUSEPORT; the start-up check binds
    without it, so a port another program holds that way still stops the start."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(EmbeddedStackError, match=f"ingress 127.0.0.1:{port}"):
            check_ports([("ingress", "127.0.0.1", port, "FASTHOOK_INGRESS_PORT")])
