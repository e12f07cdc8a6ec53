"""The ingress's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class IngressMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "fasthook_ingress_requests",
            "Requests answered by the ingress, by source and HTTP status",
            ["source_id", "status"],
            registry=self.registry,
        )
        self.produce_seconds = Histogram(
            "fasthook_ingress_produce_seconds",
            "Time from handing a RequestReceived to the broker until its ack",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.produce_failures = Counter(
            "fasthook_ingress_produce_failures",
            "RequestReceived records the broker did not acknowledge in time",
            ["status"],
            registry=self.registry,
        )
        # (source id, status) → its counter: `labels()` takes a lock and builds a key each call.
        self._answered: dict[tuple[str, str], Any] = {}
        self.body_bytes = Histogram(
            "fasthook_ingress_body_bytes",
            "Size of request bodies received",
            buckets=(256, 1024, 4096, 16384, 65536, 262144, 1048576, 5242880),
            registry=self.registry,
        )

    def answered(self, source_id: str, status: str) -> None:
        """Count one answer of `status` for a source."""
        child = self._answered.get((source_id, status))
        if child is None:
            child = self._answered[source_id, status] = self.requests.labels(source_id, status)
        child.inc()
