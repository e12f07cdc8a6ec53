"""Secrets at rest: values sealed with Fernet before they go on the config topic; and the
credential of the api → projections hop.

A sealed value is ``{"$secret": "<fernet token>"}``, so any service can find and open the
secrets of an entity without knowing its shape. The key comes from FASTHOOK_SECRET_KEY.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from runtime.errors import SettingsError

SEALED = "$secret"

# The api forwards the query, retry and bulk routes to projections with the caller's team in
# TEAM_HEADER. Projections believes that team only from a caller that also sends the hop
# credential, which only holders of FASTHOOK_SECRET_KEY can compute: a destination pointed at
# projections, or another pod on its network, sends the team header in vain.
TEAM_HEADER = "x-fasthook-team-id"
PROJECTIONS_TOKEN_HEADER = "x-fasthook-projections-token"
_PROJECTIONS_HOP = b"fasthook-projections-hop"
# The deliverer → api relay hop (CLI destinations): same idea, its own label, so neither
# credential opens the other's door.
_RELAY_HOP = b"fasthook-relay-hop"


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, key: str) -> None:
        _require(key)
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"FASTHOOK_SECRET_KEY is not a Fernet key: {exc}") from None

    def seal(self, value: str) -> dict[str, str]:
        return {SEALED: self._fernet.encrypt(value.encode()).decode()}

    def open(self, sealed: dict[str, str]) -> str:
        try:
            return self._fernet.decrypt(sealed[SEALED].encode()).decode()
        except InvalidToken:
            raise SettingsError(
                "a secret on the config topic does not open with FASTHOOK_SECRET_KEY"
            ) from None

    def open_all(self, value: Any) -> Any:
        """A copy of `value` with every sealed secret in it opened."""
        if is_sealed(value):
            return self.open(value)
        if isinstance(value, dict):
            return {k: self.open_all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.open_all(v) for v in value]
        return value


def _require(key: str) -> str:
    if not key:
        raise SettingsError(
            "FASTHOOK_SECRET_KEY is not set: secrets are encrypted at rest with it and the "
            "api proves itself to projections with it (generate one with `fasthook secret-key`)"
        )
    return key


def _hop_token(secret_key: str, label: bytes) -> str:
    """A hop credential: HMAC-SHA256 of a fixed label under the secret key, so it differs
    from the key itself and from anything else derived from it."""
    return hmac.new(_require(secret_key).encode(), label, hashlib.sha256).hexdigest()


def projections_token(secret_key: str) -> str:
    """What the api shows projections."""
    return _hop_token(secret_key, _PROJECTIONS_HOP)


def relay_token(secret_key: str) -> str:
    """What the deliverer shows the api's relay to CLI sessions."""
    return _hop_token(secret_key, _RELAY_HOP)


def derived_fernet_key(secret_key: str, label: bytes) -> str:
    """A Fernet key of its own for one purpose (e.g. the console's session cookies), derived
    from the secret key: a leaked cookie key opens nothing on the config topic."""
    digest = hmac.new(_require(secret_key).encode(), label, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def is_hop_token(expected: str, presented: str | None) -> bool:
    """Constant time: how much of a guess matched must not show in the answer's timing."""
    return hmac.compare_digest(expected.encode(), (presented or "").encode())


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}
