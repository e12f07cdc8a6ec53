"""The ingress's routes: every source URL and sub-path (the probes are added beside them)."""

from __future__ import annotations

from aiohttp import web

from ingress.handlers import handle_source_request
from ingress.wire import TOKEN_PATTERN

# The lean server (ingress/server.py) matches the same paths with ingress.wire.route.
SOURCE_ROUTES = [
    web.route("*", f"/{{token:{TOKEN_PATTERN}}}", handle_source_request),
    web.route("*", f"/{{token:{TOKEN_PATTERN}}}/{{tail:.*}}", handle_source_request),
]
