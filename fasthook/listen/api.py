"""The REST calls `fasthook listen` makes, as a client of the public /v1 API.

Where the API is: FASTHOOK_API_URL and FASTHOOK_API_KEY, else the `fasthook login` profile
(API.md). A problem+json answer becomes one readable line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import click

from fasthook.cli.profiles import config_path, resolve
from fasthook.errors import FastHookCliError
from fasthook.listen.errors import ListenError, NotFoundError, UsageError


@dataclass(frozen=True)
class ApiTarget:
    url: str
    key: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiTarget:
        env = os.environ if environ is None else environ
        url, key = env.get("FASTHOOK_API_URL", "").strip(), env.get("FASTHOOK_API_KEY", "").strip()
        if not url or not key:
            # Else the `fasthook login` profile (the environment still overrides its parts).
            ctx = click.get_current_context(silent=True)  # `fasthook --profile NAME listen …`
            name = ctx.find_root().params.get("profile") if ctx is not None else None
            try:
                profile = resolve(config_path(env), name, env)
            except FastHookCliError:
                raise UsageError(
                    "run `fasthook login --api URL --key fhp_…`, or set "
                    "FASTHOOK_API_URL (e.g. http://127.0.0.1:8081) and "
                    "FASTHOOK_API_KEY (an fhp_… key) to say which FastHook to use"
                ) from None
            url, key = profile.api_url, profile.api_key
        return cls(url.rstrip("/").removesuffix("/v1"), key)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def ws_url(self, destination_id: str) -> str:
        base = self.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}/v1/destinations/{destination_id}/listen"


def problem_line(status: int, body: Any) -> str:
    """`422 the connection is not valid: rules[0].filter.body: …` from a problem+json body."""
    if not isinstance(body, dict):
        return f"{status} {str(body)[:200]}"
    text = f"{status} {body.get('detail') or body.get('title') or ''}".strip()
    fields = "; ".join(
        f"{e.get('path')}: {e.get('message')}"
        for e in body.get("errors") or ()
        if isinstance(e, dict)
    )
    return f"{text} ({fields})" if fields else text


class Api:
    def __init__(self, target: ApiTarget, http: aiohttp.ClientSession) -> None:
        self.target = target
        self.http = http

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        try:
            async with self.http.request(
                method,
                self.target.url + path,
                json=body,
                params=params,
                headers=self.target.headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as answer:
                data = await answer.json(content_type=None) if answer.content_length != 0 else None
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ListenError(
                f"the FastHook API at {self.target.url} is not reachable: "
                f"{exc or type(exc).__name__}"
            ) from None
        if status == 404:
            raise NotFoundError(f"{method} {path}: {problem_line(status, data)}")
        if status >= 400:
            raise ListenError(f"{method} {path}: {problem_line(status, data)}")
        return data

    async def first_named(self, plural: str, name: str) -> dict[str, Any] | None:
        page = await self.call("GET", f"/v1/{plural}", params={"name": name})
        models = page.get("models") or []
        return models[0] if models else None
