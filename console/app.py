"""The console app factory: templates, static assets, sessions, the API client, routes."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from console.client import client_ctx
from console.keys import SEALER, SETTINGS
from console.middlewares import errors, sessions
from console.routes import console_routes
from console.session import Sealer
from runtime.serve import track_in_flight
from runtime.settings import Settings

HERE = Path(__file__).parent


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[errors, sessions], client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app[SEALER] = Sealer(settings.secret_key, settings.console_session_s)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    env.globals["public_url"] = settings.public_base_url
    track_in_flight(app)
    app.cleanup_ctx.append(client_ctx)
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", healthz)])
    app.add_routes(console_routes())
    app.router.add_static("/static/", HERE / "static")
    return app
