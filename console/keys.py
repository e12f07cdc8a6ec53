"""Typed keys of the console app's state and of each request's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from console.session import Sealer, Session
from runtime.settings import Settings

if TYPE_CHECKING:
    from console.client import ApiClient

SETTINGS = web.AppKey("settings", Settings)
SEALER = web.AppKey("sealer", Sealer)
CLIENT: web.AppKey[ApiClient] = web.AppKey("client")

# Set by the session middleware on every page behind sign-in.
SESSION = web.RequestKey("session", Session)
