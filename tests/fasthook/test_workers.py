"""`fasthook run --workers N` as decisions: which processes, under which names, on which ports,
with which member names; the order they start in; the logs that belong to a service.
Pure: nothing starts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fasthook.logfiles import named_logs, service_of, worker_index
from fasthook.stack import STARTED, listens, probe_url, start_waves
from fasthook.workers import (
    OWN_PORT,
    PORT_STRIDE,
    SCALED,
    extra_ports,
    layout,
    with_counts,
    workers,
)
from runtime.errors import SettingsError
from runtime.settings import Settings, load_settings

HOST = "gw1"


def test_one_worker_each_is_the_stack_as_before() -> None:
    settings = Settings()
    processes = layout(settings, STARTED, HOST)
    assert [w.name for w in processes] == list(STARTED)
    assert all(w.settings.instance_id == "" for w in processes)
    assert extra_ports(settings) == []
    ingress = processes[0]
    assert probe_url(ingress) == f"http://127.0.0.1:{settings.ingress_port}/readyz"


def test_workers_get_their_own_ports_names_and_member_names() -> None:
    settings = Settings(workers=2, router_workers=3, router_port=9000, instance_id="")
    routers = workers(settings, "router", HOST)
    assert [w.name for w in routers] == ["router-1", "router-2", "router-3"]
    assert [w.settings.router_port for w in routers] == [9000, 9000 + PORT_STRIDE, 9200]
    # The first keeps the service's member name: a stack that grows keeps its partitions.
    assert [w.settings.member_name("router") for w in routers] == [
        f"router-{routers[0].settings.member_name('router').split('-', 1)[1]}",
        "router-gw1-2",
        "router-gw1-3",
    ]
    assert all(w.settings.worker_count("router") == 3 for w in routers)
    ingress = workers(settings, "ingress", HOST)
    # One public port for all; a private one each, where the launcher probes each one.
    assert {w.settings.ingress_port for w in ingress} == {settings.ingress_port}
    assert [w.settings.ingress_metrics_port for w in ingress] == [
        settings.ingress_metrics_port,
        settings.ingress_metrics_port + PORT_STRIDE,
    ]
    assert probe_url(ingress[1]) == (
        f"http://127.0.0.1:{settings.ingress_metrics_port + PORT_STRIDE}/readyz"
    )
    # The services --workers leaves alone run one process each.
    assert [w.name for w in workers(settings, "projections", HOST)] == ["projections"]


def test_an_instance_id_names_the_workers_after_it() -> None:
    settings = Settings(deliverer_workers=2, instance_id="pod-a")
    second = workers(settings, "deliverer", HOST)[1]
    assert second.settings.member_name("fasthook-deliverer") == "fasthook-deliverer-pod-a-2"


def test_options_over_the_environment_and_a_service_own_count_over_workers() -> None:
    env = load_settings({"FASTHOOK_WORKERS": "3", "FASTHOOK_ROUTER_WORKERS": "1"})
    assert [env.worker_count(s) for s in SCALED] == [3, 1, 3]
    given_options = with_counts(env, workers=2, deliverer=4)
    assert [given_options.worker_count(s) for s in SCALED] == [2, 1, 4]
    assert with_counts(env) == env


@pytest.mark.parametrize(
    "variable, value",
    [("FASTHOOK_WORKERS", "0"), ("FASTHOOK_INGRESS_WORKERS", "-1")],
)
def test_a_count_below_one_fails_at_start(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_the_port_check_covers_every_worker_port() -> None:
    settings = Settings(workers=2)
    checked = {port for _, _, port, _ in listens(settings, kafka_port=None)}
    for service in SCALED:
        for worker in workers(settings, service, HOST):
            assert worker.settings.ingress_port in checked
            assert getattr(worker.settings, f"{OWN_PORT[service]}_port") in checked
    moved_by = {what: variable for what, _, _, variable in extra_ports(settings)}
    assert moved_by["router of worker 2"].startswith("FASTHOOK_ROUTER_PORT")


def test_workers_start_in_waves_so_no_two_of_a_group_join_at_once() -> None:
    settings = Settings(ingress_workers=1, router_workers=3, deliverer_workers=2)
    waves = start_waves(layout(settings, STARTED, HOST))
    assert [w.name for w in waves[0]] == [
        "ingress",
        "api",
        "router-1",
        "deliverer-1",
        "projections",
        "issues",
        "console",
    ]
    assert [[w.name for w in wave] for wave in waves[1:]] == [
        ["router-2", "deliverer-2"],
        ["router-3"],
    ]


@given(
    counts=st.tuples(*(st.integers(1, 12) for _ in SCALED)),
    instance=st.sampled_from(["", "pod-7"]),
)
def test_no_two_processes_share_a_name_a_private_port_or_a_member_name(
    counts: tuple[int, int, int], instance: str
) -> None:
    settings = with_counts(Settings(instance_id=instance), 1, *counts)
    processes = layout(settings, STARTED, HOST)
    assert len(processes) == len(STARTED) - len(SCALED) + sum(counts)
    assert len({w.name for w in processes}) == len(processes)
    assert {service_of(w.name) for w in processes} == set(STARTED)
    for service, count in zip(SCALED, counts, strict=True):
        own = [w for w in processes if w.service == service]
        assert len(own) == count
        assert len({probe_url(w) for w in own}) == count
        assert len({w.settings.member_name(service) for w in own}) == count
    ports = [port for _, _, port, _ in listens(settings, kafka_port=None)]
    assert len(ports) == len(set(ports))


def test_a_service_logs_are_its_own_and_its_workers_in_order(tmp_path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("router", "router-10", "router-2", "router-1", "router-dedupe", "api"):
        (logs / f"{name}.log").write_text("")
    assert named_logs(tmp_path, ["router", "api"]) == [
        "router",
        "router-1",
        "router-2",
        "router-10",
        "api",
    ]
    assert named_logs(tmp_path, ["router-2"]) == ["router-2"]
    assert [service_of(n) for n in ("router-2", "router", "fasthook")] == [
        "router",
        "router",
        "fasthook",
    ]
    assert worker_index("router-dedupe", "router") is None
