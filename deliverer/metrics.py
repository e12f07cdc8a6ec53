"""The deliverer's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class DelivererMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.attempts = Counter(
            "fasthook_deliverer_attempts",
            "Delivery attempts by outcome",
            ["status", "error_code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fasthook_deliverer_response_seconds",
            "Time to a destination's answer",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.scheduled = Counter(
            "fasthook_deliverer_scheduled",
            "Events sent to a retry tier, by tier",
            ["tier"],
            registry=self.registry,
        )
        self.parked = Counter(
            "fasthook_deliverer_parked",
            "Events parked on a retry tier while their destination had no room",
            registry=self.registry,
        )
        self.held = Counter(
            "fasthook_deliverer_held", "Events held for a paused connection", registry=self.registry
        )
        self.in_flight = Gauge(
            "fasthook_deliverer_in_flight", "Deliveries in flight", registry=self.registry
        )
        # Counted in a plain int and read when scraped: a gauge's inc and dec take a lock each,
        # per delivery. Likewise each label set's child is looked up once, not per attempt.
        self.sending = 0
        self.in_flight.set_function(lambda: self.sending)
        self._attempt_children: dict[tuple[str, str], Counter] = {}

    def attempt(self, status: str, error_code: str | None) -> None:
        key = (status, error_code or "")
        child = self._attempt_children.get(key)
        if child is None:
            child = self._attempt_children[key] = self.attempts.labels(*key)
        child.inc()
