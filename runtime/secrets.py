"""Secrets at rest: values sealed with Fernet before they go on the config topic; and the
credential of the api → projections hop.

A sealed value is ``{"$secret": "<fernet token>"}``, so any service can find and open the
secrets of an entity without knowing its shape. The key comes from FASTHOOK_SECRET_KEY.

FASTHOOK_SECRET_KEY may hold several keys, comma-separated, newest first, so a key can be
rotated without downtime (docs/operations.md): the newest seals and signs hops, every one
opens and is accepted, and `fasthook secret-key reseal` rewrites what older keys sealed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

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


def secret_keys(secret_key: str) -> list[str]:
    """The keys in FASTHOOK_SECRET_KEY, newest first (comma-separated)."""
    keys = [k.strip() for k in secret_key.split(",") if k.strip()]
    _require(",".join(keys))  # empty and " , " alike: not set
    return keys


def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"FASTHOOK_SECRET_KEY holds a key that is not a Fernet key: {exc}"
        ) from None


class SecretBox:
    """Seals with the newest key; opens what any of the keys sealed."""

    def __init__(self, key: str) -> None:
        fernets = [_fernet(k) for k in secret_keys(key)]
        self._newest = fernets[0]
        self._fernet = MultiFernet(fernets)

    def seal(self, value: str) -> dict[str, str]:
        return {SEALED: self._newest.encrypt(value.encode()).decode()}

    def open(self, sealed: dict[str, str]) -> str:
        try:
            return self._fernet.decrypt(sealed[SEALED].encode()).decode()
        except InvalidToken:
            raise SettingsError(
                "a secret on the config topic does not open with any key of FASTHOOK_SECRET_KEY"
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

    def sealed_by_newest(self, sealed: dict[str, str]) -> bool:
        try:
            self._newest.decrypt(sealed[SEALED].encode())
        except InvalidToken:
            return False
        return True

    def reseal_all(self, value: Any) -> tuple[Any, int]:
        """A copy of `value` with every secret an older key sealed sealed again by the newest,
        and how many there were (0: nothing to rewrite). Raises SettingsError when a secret
        opens with none of the keys — a key removed too early."""
        if is_sealed(value):
            if self.sealed_by_newest(value):
                return value, 0
            return self.seal(self.open(value)), 1
        if isinstance(value, dict):
            pairs = {k: self.reseal_all(v) for k, v in value.items()}
            return {k: v for k, (v, _) in pairs.items()}, sum(n for _, n in pairs.values())
        if isinstance(value, list):
            items = [self.reseal_all(v) for v in value]
            return [v for v, _ in items], sum(n for _, n in items)
        return value, 0


def _require(key: str) -> str:
    if not key:
        raise SettingsError(
            "FASTHOOK_SECRET_KEY is not set: secrets are encrypted at rest with it and the "
            "api proves itself to projections with it (generate one with `fasthook secret-key`)"
        )
    return key


def _hop_tokens(secret_key: str, label: bytes) -> tuple[str, ...]:
    """Hop credentials, newest key first: HMAC-SHA256 of a fixed label under each key, so
    they differ from the keys themselves and from anything else derived from them."""
    return tuple(
        hmac.new(k.encode(), label, hashlib.sha256).hexdigest() for k in secret_keys(secret_key)
    )


def projections_token(secret_key: str) -> str:
    """What the api shows projections (the newest key's)."""
    return _hop_tokens(secret_key, _PROJECTIONS_HOP)[0]


def projections_tokens(secret_key: str) -> tuple[str, ...]:
    """What projections accepts: any key's, so callers may be a rotation step ahead or behind."""
    return _hop_tokens(secret_key, _PROJECTIONS_HOP)


def relay_token(secret_key: str) -> str:
    """What the deliverer shows the api's relay to CLI sessions (the newest key's)."""
    return _hop_tokens(secret_key, _RELAY_HOP)[0]


def relay_tokens(secret_key: str) -> tuple[str, ...]:
    return _hop_tokens(secret_key, _RELAY_HOP)


def derived_fernet(secret_key: str, label: bytes) -> MultiFernet:
    """A Fernet of its own for one purpose (e.g. the console's session cookies), derived from
    each key (the newest encrypts): a leaked cookie key opens nothing on the config topic, and
    a rotation signs nobody out."""
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hmac.new(k.encode(), label, hashlib.sha256).digest()))
            for k in secret_keys(secret_key)
        ]
    )


def is_hop_token(accepted: Sequence[str], presented: str | None) -> bool:
    """Constant time: how much of a guess matched, or which key it matched, must not show
    in the answer's timing (every candidate is compared)."""
    if isinstance(accepted, str):  # a str is a sequence too: of one-character "tokens"
        raise TypeError("is_hop_token takes the accepted tokens as a tuple")
    given = (presented or "").encode()
    return sum(hmac.compare_digest(a.encode(), given) for a in accepted) > 0


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}
