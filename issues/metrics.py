"""The issues job's Prometheus metrics, on a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class IssuesMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.open = Gauge(
            "fasthook_issues_open", "Issues not resolved, by type", ["type"], registry=self.registry
        )
        self.records = Counter(
            "fasthook_issues_records",
            "Attempts, ignored events and issue changes read",
            registry=self.registry,
        )
        self.changes = Counter(
            "fasthook_issues_changes",
            "Issue records written, by change",
            ["change"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "fasthook_issues_notifications",
            "Notifications sent (one per channel), by type",
            ["type"],
            registry=self.registry,
        )
        self.config_syncs = Counter(
            "fasthook_issues_config_syncs",
            "Batches that waited for the config view to reach the topic's end first",
            registry=self.registry,
        )
        self.unreadable = Counter(
            "fasthook_issues_unreadable_records",
            "Records that could not be decoded (skipped)",
            registry=self.registry,
        )
