"""The ingress's lock-free metrics read exactly as prometheus_client's Counter and Histogram
fed the same updates (their creation times aside)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ingress.metrics import IngressMetrics, LoopCounter, LoopHistogram

BUCKETS = (0.001, 0.0025, 1, 5, 10)
CREATED = re.compile(r"^\S+_created(\{[^}]*\})? \S+$", re.MULTILINE)

labels = st.tuples(st.sampled_from(["", "src_a", 'src_"b"\\n']), st.sampled_from(["200", "503"]))
amounts = st.one_of(
    st.sampled_from([0.0, *BUCKETS]),
    st.floats(min_value=0, max_value=20, allow_nan=False),
    st.integers(min_value=0, max_value=20),
)


def exposition(registry: CollectorRegistry) -> str:
    return CREATED.sub("<created>", generate_latest(registry).decode())


@given(st.lists(labels, max_size=30), st.lists(amounts, max_size=30))
def test_they_expose_what_prometheus_clients_own_do(
    counted: list[tuple[str, str]], observed: list[float]
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("t_requests", "doc", ["source_id", "status"], registry=theirs)
    histogram = Histogram("t_seconds", "doc", buckets=BUCKETS, registry=theirs)
    loop_counter = LoopCounter("t_requests", "doc", ["source_id", "status"], ours)
    loop_histogram = LoopHistogram("t_seconds", "doc", BUCKETS, ours)
    for pair in counted:
        counter.labels(*pair).inc()
        loop_counter.inc(pair)
    for amount in observed:
        histogram.observe(amount)
        loop_histogram.observe(amount)
    assert exposition(ours) == exposition(theirs)
    assert generate_latest(ours).count(b"_created") == generate_latest(theirs).count(b"_created")


def test_the_ingress_counts_answers_by_source_and_status() -> None:
    metrics = IngressMetrics()
    metrics.answered("src_1", "200")
    metrics.answered("src_1", "200")
    metrics.answered("", "404")
    metrics.body_bytes.observe(300)
    sample = metrics.registry.get_sample_value
    assert sample("fasthook_ingress_requests_total", {"source_id": "src_1", "status": "200"}) == 2
    assert sample("fasthook_ingress_requests_total", {"source_id": "", "status": "404"}) == 1
    assert sample("fasthook_ingress_body_bytes_bucket", {"le": "256.0"}) == 0
    assert sample("fasthook_ingress_body_bytes_bucket", {"le": "1024.0"}) == 1
    assert sample("fasthook_ingress_body_bytes_count") == 1
