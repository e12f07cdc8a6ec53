"""Several secret keys at once (newest first): the newest seals and signs hops, every key
opens and is accepted, and re-sealing moves what older keys sealed to the newest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.errors import SettingsError
from runtime.secrets import (
    SecretBox,
    derived_fernet,
    generate_key,
    is_hop_token,
    is_sealed,
    projections_token,
    projections_tokens,
    relay_token,
    relay_tokens,
    secret_keys,
)

OLD, NEW = generate_key(), generate_key()
ROTATING = f"{NEW},{OLD}"


def test_keys_are_read_newest_first_and_spaces_do_not_matter() -> None:
    assert secret_keys(f" {NEW} , {OLD} ") == [NEW, OLD]
    assert secret_keys(OLD) == [OLD]
    with pytest.raises(SettingsError, match="not set"):
        secret_keys(" , ")
    with pytest.raises(SettingsError, match="not a Fernet key"):
        SecretBox(f"{NEW},not-a-key")


def test_the_newest_key_seals_and_every_key_opens() -> None:
    sealed_before = SecretBox(OLD).seal("whsec_before")
    box = SecretBox(ROTATING)
    assert box.open(sealed_before) == "whsec_before"
    sealed_now = box.seal("whsec_now")
    assert SecretBox(NEW).open(sealed_now) == "whsec_now"  # the old key is not needed for it
    with pytest.raises(SettingsError, match="does not open"):
        SecretBox(OLD).open(sealed_now)
    assert box.sealed_by_newest(sealed_now) and not box.sealed_by_newest(sealed_before)


secrets_tree = st.recursive(
    st.one_of(st.text(max_size=8), st.integers(), st.builds(lambda s: ("seal", s), st.text())),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def sealed_with(tree: object, box: SecretBox) -> object:
    if isinstance(tree, tuple):
        return box.seal(tree[1])
    if isinstance(tree, list):
        return [sealed_with(v, box) for v in tree]
    if isinstance(tree, dict):
        return {k: sealed_with(v, box) for k, v in tree.items()}
    return tree


def count_sealed(value: object) -> int:
    if is_sealed(value):
        return 1
    if isinstance(value, dict):
        return sum(count_sealed(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_sealed(v) for v in value)
    return 0


@given(secrets_tree)
def test_reseal_moves_every_secret_to_the_newest_key_and_keeps_its_value(tree: object) -> None:
    entity = sealed_with(tree, SecretBox(OLD))
    box = SecretBox(ROTATING)
    resealed, changed = box.reseal_all(entity)
    assert changed == count_sealed(entity)
    new_only = SecretBox(NEW)
    assert new_only.open_all(resealed) == box.open_all(entity)  # same plain values
    assert box.reseal_all(resealed) == (resealed, 0)  # nothing left to do: idempotent


def test_reseal_refuses_a_secret_no_key_opens() -> None:
    with pytest.raises(SettingsError, match="does not open"):
        SecretBox(NEW).reseal_all({"auth": SecretBox(OLD).seal("x")})


def test_hops_are_signed_by_the_newest_key_and_any_key_is_accepted() -> None:
    assert projections_token(ROTATING) == projections_token(NEW)
    assert relay_token(ROTATING) == relay_token(NEW) != projections_token(NEW)
    # Services a rotation step behind (old key only) or ahead (new only) still meet.
    assert is_hop_token(projections_tokens(ROTATING), projections_token(OLD))
    assert is_hop_token(projections_tokens(OLD), projections_token(f"{OLD},{NEW}"))
    assert is_hop_token(relay_tokens(ROTATING), relay_token(NEW))
    assert not is_hop_token(projections_tokens(NEW), projections_token(OLD))
    assert not is_hop_token(relay_tokens(ROTATING), projections_token(NEW))


def test_derived_keys_follow_the_rotation() -> None:
    before = derived_fernet(OLD, b"label").encrypt(b"session")
    assert derived_fernet(ROTATING, b"label").decrypt(before) == b"session"
    assert derived_fernet(ROTATING, b"other").encrypt(b"x") != before
