"""Operator actions that run outside the API process (CLI, `fasthook run`): teams and keys,
written through the same store, after reading the config topic to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from api.config_log import ConfigStore
from api.entities import new_analyst, new_api_key, new_entity, new_team
from api.errors import Conflict, NotFound, Unprocessable
from api.issue_triggers import default_trigger
from api.view import ConfigView, Entity
from runtime.kafka import ConfigFollower, make_producer
from runtime.secrets import SecretBox
from runtime.settings import Settings
from schemas.times import now_iso


@dataclass
class Admin:
    store: ConfigStore
    view: ConfigView
    secret_key: str

    @property
    def box(self) -> SecretBox:
        # Only writes that seal a secret need the key: listing works without it.
        return SecretBox(self.secret_key)

    async def create_team(self, name: str) -> Entity:
        team = await self.store.put("team", new_team(name, self.box))
        # Every team starts told about deliveries that fail for good (API.md).
        await self.store.put(
            "issue_trigger", new_entity("issue_trigger", team["id"], default_trigger(), self.box)
        )
        return team

    async def ensure_team(self, name: str) -> Entity:
        existing = next((t for t in self.view.all("team") if t["name"] == name), None)
        return existing or await self.create_team(name)

    async def create_key(self, name: str, team_ids: list[str]) -> tuple[str, Entity]:
        for team_id in team_ids:
            if self.view.get("team", team_id) is None:
                raise NotFound(f"no team {team_id}")
        key, entity = new_api_key(name, team_ids)
        await self.store.put("api_key", entity)
        return key, entity

    async def revoke_key(self, key_id: str) -> Entity:
        held = self.view.get("api_key", key_id)
        if held is None:
            raise NotFound(f"no API key {key_id}")
        stamp = now_iso()
        return await self.store.put(
            "api_key", {**held.entity, "revoked_at": stamp, "updated_at": stamp}
        )

    async def create_analyst(self, name: str, team_id: str | None = None) -> tuple[str, Entity]:
        """A ClickHouse credential (user `name`) for the analysts' endpoint; team-scoped when
        `team_id` is given. Returns (the password, shown once; the entity)."""
        if team_id is not None and self.view.get("team", team_id) is None:
            raise NotFound(f"no team {team_id}")
        if self.active_analyst(name) is not None:
            raise Conflict(f"an analyst named {name} exists (revoke it first)")
        try:
            password, entity = new_analyst(name, team_id)
        except ValueError as exc:
            raise Unprocessable(str(exc)) from None
        await self.store.put("analyst", entity)
        return password, entity

    def active_analyst(self, name: str) -> Entity | None:
        return next(
            (a for a in self.view.all("analyst") if a["name"] == name and not a["revoked_at"]), None
        )

    async def revoke_analyst(self, name: str) -> Entity:
        held = self.active_analyst(name)
        if held is None:
            raise NotFound(f"no active analyst {name}")
        stamp = now_iso()
        return await self.store.put("analyst", {**held, "revoked_at": stamp, "updated_at": stamp})

    async def reseal(self, *, dry_run: bool = False) -> dict[str, int]:
        """Every secret an older key of FASTHOOK_SECRET_KEY sealed, sealed again by the newest
        (a new version of each entity holding one): {kind: entities rewritten}. Raises
        SettingsError, before writing anything, when a secret opens with none of the keys."""
        box = self.box
        rewrites = [
            (kind, resealed)
            for kind, entity in self.view.every()
            for resealed, changed in [box.reseal_all(entity)]
            if changed
        ]
        counts: dict[str, int] = {}
        for kind, resealed in rewrites:
            if not dry_run:
                await self.store.put(kind, resealed)
            counts[kind] = counts.get(kind, 0) + 1
        return counts


@asynccontextmanager
async def admin_session(settings: Settings) -> AsyncIterator[Admin]:
    view = ConfigView()
    follower = ConfigFollower(settings.kafka_bootstrap, settings.topics.config, view.apply)
    producer = make_producer(settings.kafka_bootstrap)
    await producer.start()
    try:
        await follower.start()
        await follower.wait_caught_up(30)
        yield Admin(
            ConfigStore(producer, settings.topics.config, view, follower), view, settings.secret_key
        )
    finally:
        await follower.stop()
        await producer.stop()


async def create_analyst(
    settings: Settings, name: str, team_id: str | None = None
) -> tuple[str, Entity]:
    """`fasthook analysts create NAME [--team tm_…]` as a function: (password, entity)."""
    async with admin_session(settings) as admin:
        return await admin.create_analyst(name, team_id)
