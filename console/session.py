"""The session: the API key and the chosen team sealed (Fernet, with a key derived from
FASTHOOK_SECRET_KEY) into an HttpOnly, SameSite=Strict cookie, so the browser holds only
ciphertext and nothing of the key ever appears in a URL or in script-readable storage.

Pure functions: seal/open a session, make/check a CSRF token."""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import asdict, dataclass, replace

from cryptography.fernet import InvalidToken

from runtime.secrets import derived_fernet

COOKIE = "fasthook_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_LABEL = b"fasthook-console-session"


@dataclass(frozen=True)
class Session:
    key: str
    team_id: str
    team_name: str
    # Every team the key serves, [(id, name)], for the selector.
    teams: tuple[tuple[str, str], ...]
    csrf: str

    def with_team(self, team_id: str) -> Session:
        name = dict(self.teams).get(team_id)
        if name is None:
            raise ValueError(f"the key does not serve team {team_id}")
        return replace(self, team_id=team_id, team_name=name)


def new_session(key: str, teams: list[tuple[str, str]]) -> Session:
    team_id, team_name = teams[0]
    return Session(key, team_id, team_name, tuple(teams), secrets.token_urlsafe(24))


class Sealer:
    def __init__(self, secret_key: str, max_age_s: int) -> None:
        self._fernet = derived_fernet(secret_key, _LABEL)
        self.max_age_s = max_age_s

    def seal(self, session: Session) -> str:
        return self._fernet.encrypt(json.dumps(asdict(session)).encode()).decode()

    def open(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when absent, tampered with or expired."""
        if not cookie:
            return None
        try:
            raw = json.loads(self._fernet.decrypt(cookie.encode(), ttl=self.max_age_s))
            raw["teams"] = tuple((t[0], t[1]) for t in raw["teams"])
            return Session(**raw)
        except (InvalidToken, ValueError, TypeError, KeyError):
            return None


def csrf_ok(session: Session, presented: str | None) -> bool:
    return hmac.compare_digest(session.csrf.encode(), (presented or "").encode())


def same_origin(origin: str | None, host: str | None) -> bool:
    """A browser's Origin header on a POST names the page's origin; a cross-site form or
    fetch names another. No Origin (an old client, a same-origin GET) leaves it to the token."""
    if origin is None:
        return True
    if origin == "null" or host is None:
        return False
    return origin.split("://", 1)[-1] == host
