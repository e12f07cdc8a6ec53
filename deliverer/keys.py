"""Typed keys of the deliverer app's state."""

from aiohttp import web

from deliverer.consuming import ConcurrentConsumer
from deliverer.metrics import DelivererMetrics
from deliverer.view import DeliveryView
from runtime.kafka import BrokerWatch, ConfigFollower
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
VIEW = web.AppKey("view", DeliveryView)
METRICS = web.AppKey("metrics", DelivererMetrics)
FOLLOWER = web.AppKey("follower", ConfigFollower)
BROKER = web.AppKey("broker", BrokerWatch)
CONSUMERS = web.AppKey("consumers", list[ConcurrentConsumer])
