"""The ingress's Prometheus metrics, on a registry of its own.

The three it updates on every request are counted in plain ints, without prometheus_client's
lock and checks per update (a sixth of the handler's own lines): the ingress updates and
scrapes them on its event loop's thread alone. They read as prometheus_client's Counter and
Histogram would (tests/ingress/test_metrics.py compares the two).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]
_go_float: Callable[[float], str] = floatToGoString  # untyped in prometheus_client


class LoopCounter(Collector):
    """A labelled counter for one thread's use (`inc`); `collect` reads it for a registry."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._counts: dict[Labels, int] = {}
        self._created: dict[Labels, float] = {}
        registry.register(self)

    def inc(self, labels: Labels) -> None:
        counts = self._counts
        count = counts.get(labels)
        if count is None:
            self._created[labels] = time.time()
            count = 0
        counts[labels] = count + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, count in list(self._counts.items()):
            family.add_metric(list(labels), count, created=self._created[labels])
        yield family


class LoopHistogram(Collector):
    """An unlabelled histogram for one thread's use (`observe`); `collect` reads it."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(float(b) for b in buckets)
        # The `le` labels as prometheus_client spells them ("1.0", "5.24288e+06", "+Inf").
        self._les = [_go_float(b) for b in (*self._bounds, float("inf"))]
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf's
        self._sum = 0.0
        self._created = time.time()
        registry.register(self)

    def observe(self, amount: float) -> None:
        # The first bucket whose bound is ≥ amount, as prometheus_client counts it.
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def collect(self) -> Iterator[Metric]:
        cumulative = []
        total = 0
        for le, count in zip(self._les, list(self._counts), strict=True):
            total += count
            cumulative.append((le, total))
        family = HistogramMetricFamily(self._name, self._documentation, labels=())
        family.add_metric([], cumulative, self._sum)
        family.add_sample(self._name + "_created", {}, self._created)
        yield family


@dataclass
class IngressMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = LoopCounter(
            "fasthook_ingress_requests",
            "Requests answered by the ingress, by source and HTTP status",
            ["source_id", "status"],
            registry=self.registry,
        )
        self.produce_seconds = LoopHistogram(
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
        self.body_bytes = LoopHistogram(
            "fasthook_ingress_body_bytes",
            "Size of request bodies received",
            buckets=(256, 1024, 4096, 16384, 65536, 262144, 1048576, 5242880),
            registry=self.registry,
        )

    def answered(self, source_id: str, status: str) -> None:
        """Count one answer of `status` for a source."""
        self.requests.inc((source_id, status))
