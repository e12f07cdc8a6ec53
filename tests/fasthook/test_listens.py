"""The ports `fasthook run` checks before it starts, each named by the variable that moves it."""

from __future__ import annotations

from fasthook.embedded import free_port
from fasthook.stack import listens
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
