"""A small client of the public /v1 API: what every gateway verb of the CLI calls.

It knows nothing the API does not publish: routes, bearer keys, `x-team-id`, problem+json.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from fasthook.cli.profiles import Profile
from schemas.errors import FastHookError

if TYPE_CHECKING:
    import httpx

USER_AGENT = "fasthook-cli"


class ApiError(FastHookError):
    """The API answered with an error (problem+json when it could)."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(problem_line(status, problem))


class Unreachable(FastHookError):
    """No answer from the API at all."""


def problem_line(status: int, problem: Mapping[str, Any]) -> str:
    """A problem+json body as one readable line, naming every field path it blames."""
    title = problem.get("title") or f"HTTP {status}"
    head = f"{status} {title}"
    if problem.get("detail") and problem["detail"] != title:
        head += f": {problem['detail']}"
    fields = [
        f"{e.get('path') or '(body)'}: {e.get('message')}"
        for e in problem.get("errors") or []
        if isinstance(e, Mapping)
    ]
    return head + (f" ({'; '.join(fields)})" if fields else "")


class Client:
    def __init__(self, profile: Profile, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {profile.api_key}", "User-Agent": USER_AGENT}
        if profile.team_id:
            headers["x-team-id"] = profile.team_id
        self.base = profile.api_url
        import httpx  # on first use: half a second of imports that `fasthook run` never needs

        self.http = httpx.Client(base_url=profile.api_url, headers=headers, timeout=timeout_s)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        response = self.send(method, path, json=json, params=params)
        if not response.content:
            return None
        return response.json()

    def raw(self, path: str) -> bytes:
        """A GET's body as bytes (e.g. a request's raw body, exactly as the provider sent it)."""
        return self.send("GET", path).content

    def send(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        import httpx

        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(method, path, json=json, params=query)
        except httpx.HTTPError as exc:
            raise Unreachable(f"the API at {self.base} did not answer: {exc}") from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text.strip()[:200] or None}
            raise ApiError(
                response.status_code,
                problem if isinstance(problem, dict) else {"detail": str(problem)},
            )
        return response

    def pages(self, path: str, params: Mapping[str, Any], limit: int | None) -> Iterator[Any]:
        """Every model of a list, following `next` cursors until `limit` models (or the end)."""
        shown = 0
        cursor: str | None = None
        while True:
            page_size = min(250, limit - shown) if limit else 250
            body = self.call("GET", path, params={**params, "limit": page_size, "next": cursor})
            for model in body["models"]:
                yield model
                shown += 1
                if limit and shown >= limit:
                    return
            cursor = body["pagination"].get("next")
            if not cursor:
                return


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
