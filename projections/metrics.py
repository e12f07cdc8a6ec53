"""Prometheus metrics of the projections service (its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ProjectionMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter(
            "fasthook_projector_records_total",
            "Topic records projected",
            ["topic"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "fasthook_projector_skipped_total",
            "Topic records that could not be decoded or projected",
            ["topic"],
            registry=self.registry,
        )
        self.rows = Counter(
            "fasthook_projector_rows_total",
            "Rows inserted into ClickHouse",
            ["table"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "fasthook_projector_batch_seconds", "Time to write one batch", registry=self.registry
        )
        self.query_seconds = Histogram(
            "fasthook_projections_query_seconds",
            "Time to answer one query route",
            ["route"],
            registry=self.registry,
        )
        self.retries = Counter(
            "fasthook_projections_retries_total",
            "Retries published",
            ["kind"],
            registry=self.registry,
        )
        self.bulk_claims = Counter(
            "fasthook_projections_bulk_claims_total",
            "Bulk jobs this replica claimed (started, resumed, taken over or cancelled)",
            registry=self.registry,
        )
