"""Starting a new consumer group where older groups left off.

A consumer group with no committed offset reads from its `auto_offset_reset` (the earliest
record, for every FastHook group). When a service replaces groups by a new one (the
deliverer's one group for its waiting topics, which were read by a group each), the new group
would read those topics from their start after an upgrade and handle every retained record
again. So, before its first member joins, the new group is given the old groups' committed
offsets for every partition it has none of: records the old groups committed past are not
read again, records they had not committed are (at-least-once, as after any restart).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata

log = logging.getLogger(__name__)


def offsets_to_seed(
    own: Mapping[TopicPartition, int],
    older: Iterable[Mapping[TopicPartition, int]],
    topics: Iterable[str],
) -> dict[TopicPartition, int]:
    """The offsets to commit for the new group: for each partition of `topics` that it has no
    commit of (`own`: committed offsets, negative = none) and an older group has, the older
    group's offset. Should two older groups have committed one partition, the lower offset
    wins: a record one of them had not finished is read again rather than skipped."""
    wanted = set(topics)
    seeds: dict[TopicPartition, int] = {}
    for offsets in older:
        for tp, offset in offsets.items():
            if tp.topic not in wanted or offset < 0 or own.get(tp, -1) >= 0:
                continue
            seeds[tp] = min(offset, seeds.get(tp, offset))
    return seeds


async def committed(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    """The group's committed offset of every partition it committed (negative: none)."""
    listed: dict[TopicPartition, OffsetAndMetadata] = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in listed.items()}


async def commit_outside(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit `offsets` for `group` from outside it: a consumer that assigns itself the
    partitions (no membership) commits with no generation, as a standalone consumer of the
    group does. Refused (CommitFailedError) while the group has members."""
    committer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await committer.start()
    try:
        committer.assign(list(offsets))
        await committer.commit(offsets)
    finally:
        await committer.stop()


async def seed_group_offsets(
    bootstrap: str, group: str, topics: Iterable[str], older_groups: Iterable[str]
) -> dict[TopicPartition, int]:
    """Commit for `group` the older groups' offsets of the partitions it has none of
    (`offsets_to_seed`), and return what was committed. Run before the group's members start:
    a commit from outside the group is refused once it has members (then it has committed
    offsets of its own or reads from where its members' seeding put it)."""
    topics, older_groups = list(topics), list(older_groups)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        own = await committed(admin, group)
        older = [await committed(admin, name) for name in older_groups]
    finally:
        await admin.close()
    seeds = offsets_to_seed(own, older, topics)
    if not seeds:
        return seeds
    try:
        await commit_outside(bootstrap, group, seeds)
    except CommitFailedError:
        log.warning("group already has members; not seeded", extra={"group": group})
        return {}
    log.info(
        "group seeded from older groups",
        extra={"group": group, "partitions": len(seeds), "from": list(older_groups)},
    )
    return seeds
