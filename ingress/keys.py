"""Typed keys of the ingress app's state."""

from aiohttp import web

from ingress.metrics import IngressMetrics
from ingress.records import Derived
from ingress.sources import SourceView
from runtime.batching import RecordBatcher
from runtime.kafka import ServiceKafka
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SOURCES = web.AppKey("sources", SourceView)
KAFKA = web.AppKey("kafka", ServiceKafka)
METRICS = web.AppKey("metrics", IngressMetrics)
DERIVED = web.AppKey("derived", Derived)
BATCHER = web.AppKey("batcher", RecordBatcher)
# The public port's /healthz and /readyz, for a server other than aiohttp's (ingress/server.py).
PROBES: web.AppKey[list[web.RouteDef]] = web.AppKey("probes")
