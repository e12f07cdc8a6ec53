"""The config fold: which writes take effect, decided in topic order the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.config_fold import ConfigFold, Verdict
from schemas.entities import config_record


def write(
    entity_id: str,
    version: int,
    name: str = "n",
    kind: str = "connection",
    team: str = "tm_1",
    **extra: Any,
) -> dict[str, Any]:
    return config_record(
        kind,
        {"id": entity_id, "team_id": team, "name": name, **extra},  # type: ignore[arg-type]
        version=version,
        now_ms=0,
    )


def test_a_write_on_the_held_version_takes_effect_and_a_second_of_the_same_base_is_stale() -> None:
    fold = ConfigFold()
    assert fold.fold("con_1", write("con_1", 1)) is Verdict.ACCEPTED
    assert fold.fold("con_1", write("con_1", 2, name="a")) is Verdict.ACCEPTED
    assert fold.fold("con_1", write("con_1", 2, name="b")) is Verdict.STALE
    assert fold.fold("con_1", write("con_1", 1)) is Verdict.STALE
    assert fold.versions["con_1"] == 2


def test_an_update_after_a_delete_is_refused_but_a_re_creation_is_not() -> None:
    fold = ConfigFold()
    fold.fold("des_1", write("des_1", 1, kind="destination"))
    assert fold.fold("des_1", None) is Verdict.ACCEPTED
    assert fold.fold("des_1", write("des_1", 2, kind="destination")) is Verdict.DELETED
    assert fold.fold("des_1", write("des_1", 1, kind="destination")) is Verdict.ACCEPTED


def test_an_entity_first_seen_late_is_taken_as_is() -> None:
    """After compaction a reader meets an entity at whatever version survived."""
    assert ConfigFold().fold("con_9", write("con_9", 7)) is Verdict.ACCEPTED


def test_a_name_is_held_by_its_first_claimant_until_renamed_or_deleted() -> None:
    fold = ConfigFold()
    assert fold.fold("con_1", write("con_1", 1, name="x")) is Verdict.ACCEPTED
    assert fold.fold("con_2", write("con_2", 1, name="x")) is Verdict.NAME_TAKEN
    assert fold.fold("con_3", write("con_3", 1, name="x", team="tm_2")) is Verdict.ACCEPTED
    assert fold.fold("src_1", write("src_1", 1, name="x", kind="source")) is Verdict.ACCEPTED
    assert fold.fold("con_1", write("con_1", 2, name="x")) is Verdict.ACCEPTED  # its own
    fold.fold("con_1", write("con_1", 3, name="y"))
    assert fold.fold("con_2", write("con_2", 1, name="x")) is Verdict.ACCEPTED
    fold.fold("con_2", None)
    assert fold.fold("con_4", write("con_4", 1, name="x")) is Verdict.ACCEPTED


def test_names_of_teams_keys_and_system_entities_are_not_claimed() -> None:
    fold = ConfigFold()
    for entity_id, kind in (
        ("tm_a", "team"),
        ("tm_b", "team"),
        ("key_a", "api_key"),
        ("key_b", "api_key"),
    ):
        assert fold.fold(entity_id, write(entity_id, 1, kind=kind)) is Verdict.ACCEPTED
    for entity_id in ("des_s1", "des_s2"):
        assert (
            fold.fold(entity_id, write(entity_id, 1, kind="destination", system="issue_trigger"))
            is Verdict.ACCEPTED
        )


def test_decide_does_not_fold() -> None:
    fold = ConfigFold()
    assert fold.decide("con_1", write("con_1", 1)) is Verdict.ACCEPTED
    assert fold.versions == {}


# --- properties --------------------------------------------------------------------------

IDS = ["con_a", "con_b", "con_c"]
NAMES = ["x", "y"]
# A record: (entity id, version or None for a delete, name).
records = st.lists(
    st.tuples(
        st.sampled_from(IDS), st.one_of(st.none(), st.integers(1, 5)), st.sampled_from(NAMES)
    ),
    max_size=40,
)


def folded(log: list[tuple[str, int | None, str]]) -> tuple[ConfigFold, list[Verdict]]:
    fold = ConfigFold()
    verdicts = [fold.fold(i, None if v is None else write(i, v, name=n)) for i, v, n in log]
    return fold, verdicts


def live_after_each(
    log: list[tuple[str, int | None, str]], verdicts: list[Verdict]
) -> Iterator[dict[str, tuple[int, str]]]:
    """The live entities (id -> (version, name)) after each record, by the records that took
    effect."""
    live: dict[str, tuple[int, str]] = {}
    for (entity_id, version, name), verdict in zip(log, verdicts, strict=True):
        if version is None:
            live.pop(entity_id, None)
        elif verdict is Verdict.ACCEPTED:
            assert version > live.get(entity_id, (0, ""))[0]  # versions only go up
            live[entity_id] = (version, name)
        yield live


@settings(max_examples=300, deadline=None)
@given(records)
def test_versions_only_go_up_and_no_two_live_entities_hold_one_name(
    log: list[tuple[str, int | None, str]],
) -> None:
    fold, verdicts = folded(log)
    live: dict[str, tuple[int, str]] = {}
    for live in live_after_each(log, verdicts):
        names = [name for _, name in live.values()]
        assert len(set(names)) == len(names)
    assert {key[2]: holder for key, holder in fold.holders.items()} == {
        name: entity_id for entity_id, (_, name) in live.items()
    }


@settings(max_examples=300, deadline=None)
@given(records)
def test_with_refusals_restated_what_compaction_leaves_folds_to_the_same_state(
    writes: list[tuple[str, int | None, str]],
) -> None:
    """Each writer restates what the fold holds after a refusal (api.config_log): then each
    key's last record — all compaction is sure to keep — folds to the full log's state."""
    fold, log = ConfigFold(), []
    for entity_id, version, name in writes:
        log.append((entity_id, version, name))
        if (
            fold.fold(entity_id, None if version is None else write(entity_id, version, name=name))
            is not Verdict.ACCEPTED
        ):
            held = fold.versions.get(entity_id)
            restated = None if held is None else (held, dict(fold_names(fold))[entity_id])
            log.append((entity_id, *restated) if restated else (entity_id, None, ""))
            fold.fold(entity_id, None if restated is None else write(entity_id, *restated))
    full, full_verdicts = folded(log)
    last = {entity_id: at for at, (entity_id, _, _) in enumerate(log)}
    compacted = [log[at] for at in sorted(last.values())]
    small, small_verdicts = folded(compacted)
    assert small.versions == full.versions and small.holders == full.holders
    assert (
        list(live_after_each(compacted, small_verdicts))[-1:]
        == list(live_after_each(log, full_verdicts))[-1:]
    )


def fold_names(fold: ConfigFold) -> Iterator[tuple[str, str]]:
    """(entity id, name) of every entity the fold holds a name for."""
    return ((entity_id, key[2]) for entity_id, key in fold.claims.items())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["A", "B"]), min_size=1, max_size=30))
def test_racing_writers_on_one_base_apply_in_a_total_order(order: list[str]) -> None:
    """Two writers each write their next version from the version they last saw taking
    effect; every accepted write is based on the one accepted before it."""
    fold = ConfigFold()
    fold.fold("con_1", write("con_1", 1))
    seen = {"A": 1, "B": 1}
    chain = [1]
    for writer in order:
        verdict = fold.fold("con_1", write("con_1", seen[writer] + 1, name=writer))
        if verdict is Verdict.ACCEPTED:
            chain.append(seen[writer] + 1)
        seen[writer] = fold.versions["con_1"]  # it reads back what took effect
    assert chain == list(range(1, len(chain) + 1))
