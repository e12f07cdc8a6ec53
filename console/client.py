"""The console's only way to the data: the public /v1 API over HTTP, as the signed-in key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from console.errors import ApiError, ApiUnreachable
from console.keys import CLIENT, SETTINGS

Params = Mapping[str, str]


class ApiClient:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self._http = http
        self.base_url = base_url.rstrip("/")

    @staticmethod
    def _headers(key: str, team_id: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {key}"}
        if team_id:
            headers["x-team-id"] = team_id
        return headers

    async def call(
        self,
        key: str,
        team_id: str | None,
        method: str,
        path: str,
        params: Params | None = None,
        json: Any = None,
    ) -> Any:
        """The JSON answer of a 2xx; an ApiError carrying the API's problem otherwise."""
        try:
            async with self._http.request(
                method,
                self.base_url + path,
                params=dict(params or {}),
                json=json,
                headers=self._headers(key, team_id),
                timeout=aiohttp.ClientTimeout(total=30),
            ) as answer:
                body = await answer.json(content_type=None) if answer.content_length != 0 else None
                if answer.status >= 400:
                    raise ApiError(answer.status, body)
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnreachable(f"the API at {self.base_url} did not answer: {exc}") from None
        except ValueError:
            raise ApiUnreachable(
                f"the API at {self.base_url} answered something not JSON"
            ) from None

    async def raw(self, key: str, team_id: str, path: str) -> tuple[bytes, str]:
        """Exact bytes (a request's raw body) and their content type."""
        try:
            async with self._http.get(
                self.base_url + path,
                headers=self._headers(key, team_id),
                timeout=aiohttp.ClientTimeout(total=30),
            ) as answer:
                body = await answer.read()
                if answer.status >= 400:
                    raise ApiError(answer.status, None)
                return body, answer.headers.get("Content-Type", "application/octet-stream")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnreachable(f"the API at {self.base_url} did not answer: {exc}") from None


async def client_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as http:
        app[CLIENT] = ApiClient(http, app[SETTINGS].api_base_url)
        yield
