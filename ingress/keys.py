"""Typed keys of the ingress app's state."""

from aiohttp import web

from ingress.metrics import IngressMetrics
from ingress.sources import SourceView
from runtime.kafka import ServiceKafka
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SOURCES = web.AppKey("sources", SourceView)
KAFKA = web.AppKey("kafka", ServiceKafka)
METRICS = web.AppKey("metrics", IngressMetrics)
# The settings' topic names are built on each read; the hot path reads this one once.
REQUESTS_TOPIC = web.AppKey("requests_topic", str)
