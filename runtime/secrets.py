"""Secrets at rest: values sealed with Fernet before they go on the config topic.

A sealed value is ``{"$secret": "<fernet token>"}``, so any service can find and open the
secrets of an entity without knowing its shape. The key comes from FASTHOOK_SECRET_KEY.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from runtime.errors import SettingsError

SEALED = "$secret"


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, key: str) -> None:
        if not key:
            raise SettingsError(
                "FASTHOOK_SECRET_KEY is not set: secrets are encrypted at rest with it "
                "(generate one with `fasthook secret-key`)"
            )
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


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED}
