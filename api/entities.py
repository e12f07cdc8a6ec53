"""Pure builders of configuration entities (what goes on the config topic) and of the API's
views of them (what goes out in responses). Secrets are sealed on the way in and dropped on
the way out."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from typing import Any

from api.models import SECRET_FIELDS
from runtime.secrets import SecretBox, is_sealed
from schemas.ids import new_id
from schemas.times import now_iso

Entity = dict[str, Any]
PREFIX = {
    "source": "src",
    "destination": "des",
    "connection": "con",
    "team": "tm",
    "api_key": "key",
    "analyst": "anl",
    "issue_trigger": "itr",
}
KEY_PREFIX = "fhp_"


def new_source_token() -> str:
    """The unguessable part of a source URL: lower-case alphanumerics."""
    return secrets.token_hex(12)


def seal_auth(config: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    auth = config.get("auth")
    if not auth:
        return config
    sealed = {
        k: box.seal(v) if k in SECRET_FIELDS and isinstance(v, str) else v for k, v in auth.items()
    }
    return {**config, "auth": sealed}


def without_secrets(config: dict[str, Any]) -> dict[str, Any]:
    auth = config.get("auth")
    if not auth:
        return config
    return {**config, "auth": {k: v for k, v in auth.items() if not is_sealed(v)}}


def new_entity(
    kind: str, team_id: str, body: dict[str, Any], box: SecretBox, now: str | None = None
) -> Entity:
    stamp = now or now_iso()
    entity: Entity = {
        "id": new_id(PREFIX[kind]),
        "team_id": team_id,
        "created_at": stamp,
        **body,
    }
    if kind == "source":
        entity["token"] = new_source_token()
    return revise(kind, entity, body, box, stamp)


def revise(
    kind: str, current: Entity, body: dict[str, Any], box: SecretBox, now: str | None = None
) -> Entity:
    """`current` with the fields of a full (PUT) body; ids, token and created_at stay."""
    stamp = now or now_iso()
    revised: Entity = {**current, **body, "updated_at": stamp}
    if "config" in body:
        revised["config"] = seal_auth(body["config"], box)
    status = body.get("status", current.get("status", "enabled"))
    revised["status"] = status
    if status == "disabled":
        revised["disabled_at"] = current.get("disabled_at") or stamp
    else:
        revised["disabled_at"] = None
    if kind == "connection":
        revised.setdefault("paused_at", None)
    return revised


def with_status(kind: str, current: Entity, action: str, now: str | None = None) -> Entity:
    """enable / disable / pause / unpause."""
    stamp = now or now_iso()
    changed = {**current, "updated_at": stamp}
    if action == "disable":
        changed.update(status="disabled", disabled_at=current.get("disabled_at") or stamp)
    elif action == "enable":
        changed.update(status="enabled", disabled_at=None)
    elif action == "pause":
        changed["paused_at"] = current.get("paused_at") or stamp
    elif action == "unpause":
        changed["paused_at"] = None
    else:
        raise ValueError(f"unknown action {action!r}")
    return changed


def public(kind: str, entity: Entity, public_base_url: str) -> dict[str, Any]:
    """The API's view of an entity: no token internals, no secrets."""
    view = {k: v for k, v in entity.items() if k != "token"}
    if "config" in view:
        view["config"] = without_secrets(view["config"])
    if kind == "source":
        view["url"] = f"{public_base_url}/{entity['token']}"
    if kind == "connection":
        if entity.get("status") == "enabled" and entity.get("paused_at"):
            view["status"] = "paused"
    return view


# --- teams and keys ----------------------------------------------------------------------


def new_signing_secret() -> str:
    # Standard base64, padded: what Standard Webhooks libraries decode as is. Older secrets
    # were unpadded base64url; they stay valid until rotated (deliverer.signatures.standard_key).
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_team(name: str, box: SecretBox, now: str | None = None) -> Entity:
    stamp = now or now_iso()
    return {
        "id": new_id("tm"),
        "name": name,
        "created_at": stamp,
        "updated_at": stamp,
        "signing_secret": {
            "current": box.seal(new_signing_secret()),
            "previous": None,
            "previous_valid_until": None,
            "rotated_at": None,
        },
    }


def rotate_signing_secret(
    team: Entity, box: SecretBox, grace_s: int, now_s: float | None = None
) -> Entity:
    t = time.time() if now_s is None else now_s
    secret = team["signing_secret"]
    return {
        **team,
        "updated_at": now_iso(t),
        "signing_secret": {
            "current": box.seal(new_signing_secret()),
            "previous": secret["current"],
            "previous_valid_until": now_iso(t + grace_s),
            "rotated_at": now_iso(t),
        },
    }


def team_view(team: Entity, box: SecretBox, now: str | None = None) -> dict[str, Any]:
    secret = team["signing_secret"]
    still_valid = secret["previous"] is not None and (secret["previous_valid_until"] or "") > (
        now or now_iso()
    )
    return {
        "id": team["id"],
        "name": team["name"],
        "created_at": team["created_at"],
        "signing_secret": {
            "current": box.open(secret["current"]),
            "previous": box.open(secret["previous"]) if still_valid else None,
            "previous_valid_until": secret["previous_valid_until"] if still_valid else None,
            "rotated_at": secret["rotated_at"],
        },
    }


def hash_key(key: str) -> str:
    # Keys are 256-bit random: a plain SHA-256 is as safe as a slow hash, and cheap per request.
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key(name: str, team_ids: list[str], now: str | None = None) -> tuple[str, Entity]:
    """(the key, shown once; the entity, which holds only its hash)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    stamp = now or now_iso()
    return key, {
        "id": new_id("key"),
        "name": name,
        "team_ids": team_ids,
        "hash": hash_key(key),
        "hint": key[:8] + "…",
        "created_at": stamp,
        "updated_at": stamp,
        "revoked_at": None,
    }


# --- analysts (ClickHouse users of the read-only endpoint) --------------------------------

# A ClickHouse user name as is: the same name logs in to the embedded endpoint and, in
# production, names the ClickHouse server's user.
ANALYST_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def new_analyst(name: str, team_id: str | None, now: str | None = None) -> tuple[str, Entity]:
    """(the password, shown once; the entity, which holds only its SHA-256). Random 192-bit
    passwords make a plain SHA-256 enough, and it is what ClickHouse's `sha256_hash` takes."""
    if not ANALYST_NAME.match(name):
        raise ValueError("an analyst name is a letter then letters, digits or _ (64 at most)")
    password = secrets.token_urlsafe(24)
    stamp = now or now_iso()
    return password, {
        "id": new_id("anl"),
        "name": name,
        "team_id": team_id,
        "hash": hash_key(password),
        "created_at": stamp,
        "updated_at": stamp,
        "revoked_at": None,
    }
