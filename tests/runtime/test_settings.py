"""Settings: read from the environment, handed to child processes, limits checked."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import SettingsError
from runtime.settings import INGRESS_SERVERS, Settings, load_settings, settings_environment

_VALUES = {
    int: st.integers(1, 10**6),
    float: st.floats(0.001, 1e6),
    str: st.text(st.characters(min_codepoint=33, max_codepoint=0x7E), max_size=20),
}
_FIELDS = {
    f.name: _VALUES[{"int": int, "float": float}.get(str(f.type), str)]
    for f in dataclasses.fields(Settings)
    if f.name not in ("max_body_bytes", "max_headers", "max_header_bytes")
}
_FIELDS["ingress_server"] = st.sampled_from(INGRESS_SERVERS)  # a choice, checked


@given(st.fixed_dictionaries({}, optional=_FIELDS))
@settings(max_examples=100, deadline=None)
def test_a_child_process_reads_back_the_launchers_settings(changes: dict) -> None:
    mine = Settings().with_(**changes)
    assert load_settings(settings_environment(mine)) == mine


def test_every_variable_is_named_after_its_field() -> None:
    env = settings_environment(Settings(api_port=9999))
    assert env["FASTHOOK_API_PORT"] == "9999"
    assert len(env) == len(dataclasses.fields(Settings))


def test_a_value_of_the_wrong_type_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="FASTHOOK_API_PORT='eighty' is not a"):
        load_settings({"FASTHOOK_API_PORT": "eighty"})


def test_limits_may_be_lowered_never_raised() -> None:
    assert load_settings({"FASTHOOK_MAX_BODY_BYTES": "1024"}).max_body_bytes == 1024
    with pytest.raises(SettingsError, match="FASTHOOK_MAX_BODY_BYTES"):
        load_settings({"FASTHOOK_MAX_BODY_BYTES": str(10**9)})
