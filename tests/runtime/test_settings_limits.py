"""A deployment may lower the body limit, never raise it above the contract's."""

from __future__ import annotations

import pytest

from runtime.errors import SettingsError
from runtime.settings import load_settings
from schemas.limits import MAX_BODY_BYTES


def test_the_default_body_limit_is_the_contracts() -> None:
    assert load_settings({}).max_body_bytes == MAX_BODY_BYTES


def test_a_lower_body_limit_is_kept() -> None:
    assert load_settings({"FASTHOOK_MAX_BODY_BYTES": "1024"}).max_body_bytes == 1024


@pytest.mark.parametrize("value", [str(MAX_BODY_BYTES + 1), str(64 * 1024 * 1024)])
def test_a_body_limit_above_the_contracts_is_refused(value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"FASTHOOK_MAX_BODY_BYTES": value})
    assert "FASTHOOK_MAX_BODY_BYTES" in str(refused.value)
    assert str(MAX_BODY_BYTES) in str(refused.value)


def test_a_body_limit_of_zero_is_refused() -> None:
    with pytest.raises(SettingsError):
        load_settings({"FASTHOOK_MAX_BODY_BYTES": "0"})
