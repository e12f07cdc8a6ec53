"""The ingress's routes: every source URL and sub-path (the probes are added beside them)."""

from __future__ import annotations

from aiohttp import web

from ingress.handlers import handle_source_request

# Tokens are lower-case alphanumerics, so they never collide with /healthz or /readyz.
SOURCE_ROUTES = [
    web.route("*", "/{token:[a-z0-9]{8,64}}", handle_source_request),
    web.route("*", "/{token:[a-z0-9]{8,64}}/{tail:.*}", handle_source_request),
]
