"""The router's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class RouterMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "fasthook_router_requests", "Requests read from the requests topic, by status",
            ["status"], registry=self.registry)
        self.outcomes = Counter(
            "fasthook_router_outcomes", "Routing outcomes per connection: EVENT or ignore cause",
            ["outcome"], registry=self.registry)
        self.unreadable = Counter(
            "fasthook_router_unreadable_records", "Records that could not be decoded (skipped)",
            registry=self.registry)
        self.transform_seconds = Histogram(
            "fasthook_router_transformation_seconds", "Time spent running transformations",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2),
            registry=self.registry)
