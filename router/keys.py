"""Typed keys of the router app's state."""

from aiohttp import web

from router.connections import ConnectionView
from router.deduplicating import DedupeConsumer
from router.metrics import RouterMetrics
from router.requests import RequestConsumer
from runtime.kafka import ServiceKafka
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
VIEW = web.AppKey("view", ConnectionView)
METRICS = web.AppKey("metrics", RouterMetrics)
KAFKA = web.AppKey("kafka", ServiceKafka)
REQUESTS = web.AppKey("requests", RequestConsumer)
DEDUPE = web.AppKey("dedupe", DedupeConsumer)
