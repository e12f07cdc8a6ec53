"""The topic catalog: every topic FastHook uses, with its partitions and config, in one place.

Topic names are ``<namespace>.<suffix>``; the namespace is ``fasthook`` in production and unique
per test so tests sharing one broker never see each other's records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import limits

DAY_MS = 24 * 60 * 60 * 1000
# Kafka's default (1 MB) is below the 5 MiB bodies a source accepts.
MAX_MESSAGE_BYTES = str(limits.MAX_MESSAGE_BYTES)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    suffix: str
    partitions: int
    record: str | None
    key: str
    config: dict[str, str] = field(default_factory=dict)


RETRY_TIERS_MS: tuple[int, ...] = (5_000, 30_000, 120_000, 600_000, 3_600_000)

CATALOG: tuple[TopicSpec, ...] = (
    # One partition: the config fold compares records of different keys (names). A record stays
    # uncompacted for an hour, so a refused write's restatement lands before the compactor
    # looks (schemas.config_fold, api.config_log).
    TopicSpec(
        "config",
        1,
        "ConfigChanged",
        "entity id",
        {"cleanup.policy": "compact", "min.compaction.lag.ms": str(3600 * 1000)},
    ),
    TopicSpec(
        "requests",
        8,
        "RequestReceived",
        "request id",
        {"retention.ms": str(30 * DAY_MS), "max.message.bytes": MAX_MESSAGE_BYTES},
    ),
    TopicSpec(
        "events",
        8,
        "EventCreated",
        "event id",
        {"retention.ms": str(30 * DAY_MS), "max.message.bytes": MAX_MESSAGE_BYTES},
    ),
    TopicSpec("ignored", 4, "EventIgnored", "request id", {"retention.ms": str(30 * DAY_MS)}),
    # Candidates of deduplicating connections, keyed by their dedupe key, so one router worker
    # sees every request that could be a repeat of another.
    TopicSpec(
        "router.dedupe",
        8,
        "EventCreated",
        "dedupe key",
        {"retention.ms": str(7 * DAY_MS), "max.message.bytes": MAX_MESSAGE_BYTES},
    ),
    # The router's dedupe state: per dedupe key, the first candidate let through in its window.
    # Partition n holds the state of router.dedupe's partition n; its owner reads it back at
    # assignment. JSON, internal to the router (record None).
    TopicSpec("router.dedupe.seen", 8, None, "dedupe key", {"cleanup.policy": "compact"}),
    TopicSpec("attempts", 8, "AttemptRecorded", "event id", {"retention.ms": str(30 * DAY_MS)}),
    # Events of paused connections, until unpaused; keyed by connection id.
    TopicSpec(
        "held",
        4,
        "EventCreated",
        "connection id",
        {"retention.ms": str(30 * DAY_MS), "max.message.bytes": MAX_MESSAGE_BYTES},
    ),
    *(
        TopicSpec(
            f"retry.{tier // 1000}s",
            4,
            "EventCreated",
            "event id",
            {"retention.ms": str(7 * DAY_MS), "max.message.bytes": MAX_MESSAGE_BYTES},
        )
        for tier in RETRY_TIERS_MS
    ),
    # Bulk retry jobs of the projections service, keyed by bulk id; the latest value is the
    # job's whole state. JSON, not Avro (record None): only the projections service writes and
    # reads it, so its shape is internal and free to change, not part of the contract.
    TopicSpec("bulk", 1, None, "bulk id", {"cleanup.policy": "compact"}),
    # Every change of every issue (its timeline), keyed by issue id.
    TopicSpec("issues", 4, "IssueOpened", "issue id", {"retention.ms": str(90 * DAY_MS)}),
    # The issues job's own state (open issues, counters, input positions), written in the same
    # transaction as what it emits: JSON, internal to the job like the bulk topic.
    TopicSpec("issues.state", 1, None, "state key", {"cleanup.policy": "compact"}),
)


def topic_name(namespace: str, suffix: str) -> str:
    return f"{namespace}.{suffix}"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names of one namespace."""

    namespace: str = "fasthook"

    @property
    def config(self) -> str:
        return topic_name(self.namespace, "config")

    @property
    def requests(self) -> str:
        return topic_name(self.namespace, "requests")

    @property
    def events(self) -> str:
        return topic_name(self.namespace, "events")

    @property
    def ignored(self) -> str:
        return topic_name(self.namespace, "ignored")

    @property
    def held(self) -> str:
        return topic_name(self.namespace, "held")

    @property
    def router_dedupe(self) -> str:
        return topic_name(self.namespace, "router.dedupe")

    @property
    def router_dedupe_seen(self) -> str:
        return topic_name(self.namespace, "router.dedupe.seen")

    @property
    def attempts(self) -> str:
        return topic_name(self.namespace, "attempts")

    @property
    def bulk(self) -> str:
        return topic_name(self.namespace, "bulk")

    @property
    def issues(self) -> str:
        return topic_name(self.namespace, "issues")

    @property
    def issues_state(self) -> str:
        return topic_name(self.namespace, "issues.state")

    def retry(self, tier_ms: int) -> str:
        return topic_name(self.namespace, f"retry.{tier_ms // 1000}s")

    def all(self) -> list[tuple[str, TopicSpec]]:
        return [(topic_name(self.namespace, spec.suffix), spec) for spec in CATALOG]
