"""Which offsets a new consumer group takes from the groups it replaces (pure rule)."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from runtime.seeding import offsets_to_seed

TOPICS = ["held", "retry.5s", "other"]
partitions = st.builds(TopicPartition, st.sampled_from(TOPICS), st.integers(0, 3))
offsets = st.dictionaries(partitions, st.integers(-1, 50), max_size=8)


def test_the_old_groups_offsets_fill_only_what_the_new_group_has_not_committed():
    held0, held1, tier0 = (
        TopicPartition("held", 0),
        TopicPartition("held", 1),
        TopicPartition("retry.5s", 0),
    )
    own = {held0: 9, held1: -1}
    older = [{held0: 3, held1: 4}, {tier0: 7, TopicPartition("other", 0): 2}]
    assert offsets_to_seed(own, older, ["held", "retry.5s"]) == {held1: 4, tier0: 7}


@given(own=offsets, older=st.lists(offsets, max_size=3), wanted=st.sets(st.sampled_from(TOPICS)))
def test_never_over_a_commit_of_its_own_and_never_past_any_old_groups(own, older, wanted):
    seeds = offsets_to_seed(own, older, wanted)
    for tp, offset in seeds.items():
        assert tp.topic in wanted
        assert own.get(tp, -1) < 0, "the new group's own commit wins"
        committed = [o[tp] for o in older if o.get(tp, -1) >= 0]
        assert offset == min(committed), "the lowest: nothing an old group had not finished skipped"
    for o in older:
        for tp, offset in o.items():
            if tp.topic in wanted and offset >= 0 and own.get(tp, -1) < 0:
                assert tp in seeds
