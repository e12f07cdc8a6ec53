"""The router's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class RouterMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "fasthook_router_requests",
            "Requests read from the requests topic, by status",
            ["status"],
            registry=self.registry,
        )
        # (counter, label) → its child: `labels()` takes a lock and builds a key each call.
        self._children: dict[tuple[str, str], Any] = {}
        self.outcomes = Counter(
            "fasthook_router_outcomes",
            "Routing outcomes per connection: EVENT or ignore cause",
            ["outcome"],
            registry=self.registry,
        )
        self.unreadable = Counter(
            "fasthook_router_unreadable_records",
            "Records that could not be decoded (skipped)",
            registry=self.registry,
        )
        self.transform_seconds = Histogram(
            "fasthook_router_transformation_seconds",
            "Time spent running transformations, per batch of one code's requests",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2),
            registry=self.registry,
        )
        self.transform_batch = Histogram(
            "fasthook_router_transformation_batch_size",
            "Requests per batch sent to one transformation's isolate",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )

    def count(self, counter: Counter, label: str) -> None:
        """Add one to `counter`'s child for `label` (its one label)."""
        key = (counter._name, label)  # every counter here has one label
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(label)
        child.inc()
