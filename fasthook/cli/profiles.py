"""Where the CLI finds the API: `fasthook login` profiles in a per-user file (mode 0600), with
FASTHOOK_API_URL / FASTHOOK_API_KEY / FASTHOOK_TEAM_ID overriding whatever a profile says.

The file is TOML-like JSON (`~/.config/fasthook/config.json`, or `$FASTHOOK_CONFIG`), holding
`{"current": NAME, "profiles": {NAME: {"api_url", "api_key", "team_id"?}}}`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasthook.errors import FastHookCliError
from fasthook.files import write_private

DEFAULT_PROFILE = "default"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("FASTHOOK_CONFIG"):
        return Path(env["FASTHOOK_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fasthook" / "config.json"


@dataclass(frozen=True)
class Profile:
    name: str
    api_url: str
    api_key: str
    team_id: str | None = None


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"current": None, "profiles": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FastHookCliError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise FastHookCliError(f"{path} is not a fasthook config file")
    return data


def save_profile(path: Path, profile: Profile, make_current: bool = True) -> None:
    data = read_config(path)
    data["profiles"][profile.name] = {
        "api_url": profile.api_url,
        "api_key": profile.api_key,
        "team_id": profile.team_id,
    }
    if make_current or not data.get("current"):
        data["current"] = profile.name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, json.dumps(data, indent=2) + "\n")


def remove_profile(path: Path, name: str) -> None:
    data = read_config(path)
    if name not in data["profiles"]:
        raise FastHookCliError(f"no profile {name!r} in {path}")
    del data["profiles"][name]
    if data.get("current") == name:
        data["current"] = next(iter(data["profiles"]), None)
    write_private(path, json.dumps(data, indent=2) + "\n")


def resolve(path: Path, name: str | None, environ: Mapping[str, str] | None = None) -> Profile:
    """The profile to use: `name` (or the current one), then the environment on top."""
    env = os.environ if environ is None else environ
    data = read_config(path)
    chosen = name or env.get("FASTHOOK_PROFILE") or data.get("current") or DEFAULT_PROFILE
    stored = data["profiles"].get(chosen)
    if name and stored is None:
        raise FastHookCliError(
            f"no profile {name!r} in {path}; run `fasthook login --profile {name}`"
        )
    stored = stored or {}
    url = env.get("FASTHOOK_API_URL") or stored.get("api_url")
    key = env.get("FASTHOOK_API_KEY") or stored.get("api_key")
    if not url or not key:
        raise FastHookCliError(
            "no API to talk to: run `fasthook login --api URL --key fhp_…` "
            "or set FASTHOOK_API_URL and FASTHOOK_API_KEY"
        )
    team = env.get("FASTHOOK_TEAM_ID") or stored.get("team_id")
    return Profile(chosen, url.rstrip("/"), key, team)
