"""Typed keys of the issues app's state."""

from aiohttp import web

from issues.job import IssuesJob
from issues.metrics import IssuesMetrics
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", IssuesMetrics)
JOB = web.AppKey("job", IssuesJob)
