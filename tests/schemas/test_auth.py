"""Auth schemes in one place: what the API accepts is what the ingress verifies with and the
deliverer presents, and a `whsec_` secret reads one way everywhere."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.models import DESTINATION_AUTH, SOURCE_AUTH, DestinationConfig, HmacAuth, SourceConfig
from deliverer.outgoing import AUTH_TYPES
from ingress.signatures import _VERIFIERS
from schemas.auth import (
    DEFAULT_HMAC_ALGORITHM,
    DEFAULT_HMAC_ENCODING,
    DEFAULT_HMAC_HEADER,
    DESTINATION_AUTH_TYPES,
    SOURCE_AUTH_TYPES,
    WHSEC_PREFIX,
    whsec_key,
)


@given(key=st.binary(min_size=1, max_size=64), prefixed=st.booleans(), padded=st.booleans())
def test_a_whsec_secret_reads_back_its_key(key: bytes, prefixed: bool, padded: bool) -> None:
    encoded = base64.b64encode(key).decode()
    secret = (WHSEC_PREFIX if prefixed else "") + (encoded if padded else encoded.rstrip("="))
    assert whsec_key(secret) == key


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", "", "whsec_a-b_"])
def test_a_secret_that_is_not_base64_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_"):
        whsec_key(secret)


def test_every_scheme_the_api_accepts_is_one_the_services_handle() -> None:
    assert tuple(SOURCE_AUTH) == SOURCE_AUTH_TYPES
    assert set(SOURCE_AUTH_TYPES) <= set(_VERIFIERS)
    assert set(DESTINATION_AUTH) <= set(DESTINATION_AUTH_TYPES)
    assert AUTH_TYPES == (None, *DESTINATION_AUTH_TYPES)
    source = SourceConfig.model_json_schema()["properties"]["auth_type"]["anyOf"][0]["enum"]
    destination = DestinationConfig.model_json_schema()["properties"]["auth_type"]
    assert source == list(SOURCE_AUTH_TYPES)
    assert destination["anyOf"][0]["enum"] == list(DESTINATION_AUTH_TYPES)
    # Without a scheme, a source accepts any request and a destination adds nothing.
    assert SourceConfig().auth_type is None and DestinationConfig().auth_type is None


def test_the_api_fills_in_the_defaults_the_ingress_assumes() -> None:
    filled = HmacAuth.model_validate({"webhook_secret_key": "s"}).model_dump(exclude_none=True)
    assert filled == {
        "webhook_secret_key": "s",
        "algorithm": DEFAULT_HMAC_ALGORITHM,
        "encoding": DEFAULT_HMAC_ENCODING,
        "header_key": DEFAULT_HMAC_HEADER,
    }
