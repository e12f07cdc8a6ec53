"""Typed keys of the ingress app's state."""

from aiohttp import web
from aiokafka import AIOKafkaProducer

from ingress.metrics import IngressMetrics
from ingress.sources import SourceView
from runtime.kafka import BrokerWatch, ConfigFollower
from runtime.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
SOURCES = web.AppKey("sources", SourceView)
FOLLOWER = web.AppKey("follower", ConfigFollower)
BROKER = web.AppKey("broker", BrokerWatch)
METRICS = web.AppKey("metrics", IngressMetrics)
