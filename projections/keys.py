"""Typed keys of the projections app's shared state."""

from __future__ import annotations

from aiohttp import web
from aiokafka import AIOKafkaProducer

from projections.bulk import BulkRunner
from projections.clickhouse import Engine
from projections.metrics import ProjectionMetrics
from projections.projector import Projector
from runtime.settings import Settings
from runtime.watch import BrokerWatch

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", str)
ENGINE = web.AppKey("engine", Engine)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
PROJECTOR = web.AppKey("projector", Projector)
BROKER = web.AppKey("broker", BrokerWatch)
METRICS = web.AppKey("metrics", ProjectionMetrics)
BULK = web.AppKey("bulk", BulkRunner)
TEAM_ID = web.RequestKey("team_id", str)  # per request: the team every query is scoped to
