"""Typed keys of the deliverer app's state."""

from aiohttp import web

from deliverer.metrics import DelivererMetrics
from deliverer.view import DeliveryView
from runtime.consuming import ConcurrentConsumer
from runtime.kafka import ServiceKafka
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
VIEW = web.AppKey("view", DeliveryView)
METRICS = web.AppKey("metrics", DelivererMetrics)
KAFKA = web.AppKey("kafka", ServiceKafka)
CONSUMERS = web.AppKey("consumers", list[ConcurrentConsumer])
