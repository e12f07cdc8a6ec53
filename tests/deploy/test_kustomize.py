"""Every Kustomize folder of deploy/kubernetes renders with `kubectl kustomize`, every built-in
kind in it passes the Kubernetes OpenAPI schema offline (kubernetes-validate, strict: no unknown
field), and the overlays say what deploy/README.md says: requests and limits on every pod,
disruption budgets on the multi-replica services, the settings the services really read."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from runtime.settings import Settings, load_settings
from tests.deploy.conftest import OVERLAYS, of_kind

# The oldest Kubernetes the manifests promise to fit (topologySpreadConstraints' matchLabelKeys)
# and the newest the validator knows.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# Kinds of operators the manifests use, checked field by field in test_platform.py.
CUSTOM = {
    "keda.sh/v1alpha1",
    "kafka.strimzi.io/v1beta2",
    "clickhouse.altinity.com/v1",
    "clickhouse-keeper.altinity.com/v1",
    "monitoring.coreos.com/v1",
}
SERVICES = ("ingress", "api", "router", "deliverer", "issues", "projections")


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def quantity(value: str) -> float:
    """A CPU or memory quantity as a number (cores, bytes)."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if str(value).endswith(suffix):
            return float(str(value)[: -len(suffix)]) * factor
    return float(value)


@pytest.mark.parametrize("folder", OVERLAYS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_built_in_kind_is_valid(kustomize, folder: str, version: str) -> None:
    documents = kustomize(folder)
    assert documents
    built_in = [d for d in documents if d["apiVersion"] not in CUSTOM]
    for document in built_in:
        kubernetes_validate.validate(document, version, strict=True)
    assert {d["apiVersion"] for d in documents} - {d["apiVersion"] for d in built_in} <= CUSTOM


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/production"])
def test_an_overlay_runs_every_service_with_requests_and_limits(kustomize, overlay: str) -> None:
    documents = kustomize(overlay)
    deployments = of_kind(documents, "Deployment")
    assert set(deployments) == {f"fasthook-{s}" for s in SERVICES}
    [namespace] = of_kind(documents, "Namespace")
    assert {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"} == {
        namespace
    }
    for name, deployment in deployments.items():
        resources = container(deployment)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "cpu" not in resources["limits"], f"{name}: a CPU limit throttles its event loop"
        assert quantity(resources["requests"]["memory"]) <= quantity(
            resources["limits"]["memory"]
        ), name
    # Projections idles at ~370 MB RSS: its request covers it everywhere.
    projections = container(deployments["fasthook-projections"])["resources"]
    assert quantity(projections["requests"]["memory"]) >= 400 * 2**20


def test_production_requests_a_core_per_worker(kustomize) -> None:
    """The sizing table in docs/operations.md counts a core per ingress, router, deliverer and
    projections pod (each is one event loop, saturated at about one core)."""
    deployments = of_kind(kustomize("overlays/production"), "Deployment")
    for service in ("ingress", "router", "deliverer", "projections"):
        requests = container(deployments[f"fasthook-{service}"])["resources"]["requests"]
        assert quantity(requests["cpu"]) == 1.0, service
    assert deployments["fasthook-ingress"]["spec"]["replicas"] == 3
    # KEDA owns these counts (scaledobjects.yaml).
    assert "replicas" not in deployments["fasthook-router"]["spec"]
    assert "replicas" not in deployments["fasthook-deliverer"]["spec"]
    assert "replicas" not in deployments["fasthook-projections"]["spec"]


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/production"])
def test_disruption_budgets_cover_the_multi_replica_services(kustomize, overlay: str) -> None:
    documents = kustomize(overlay)
    budgets = of_kind(documents, "PodDisruptionBudget")
    deployments = of_kind(documents, "Deployment")
    covered = {
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: b["spec"]
        for b in budgets.values()
    }
    assert set(covered) == {
        "fasthook-ingress",
        "fasthook-router",
        "fasthook-deliverer",
        "fasthook-projections",
    }
    for name, spec in covered.items():
        # maxUnavailable, so a one-replica overlay can still drain a node.
        assert spec == {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
        }
        assert (
            deployments[name]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
            == name
        )
    # The single writer never runs twice: it is replaced, not rolled, or fenced.
    assert deployments["fasthook-issues"]["spec"]["replicas"] == 1
    assert deployments["fasthook-issues"]["spec"]["strategy"] == {"type": "Recreate"}
    # Projections pods share the work (projector group, leased bulk jobs): rolled, never all
    # down at once.
    assert deployments["fasthook-projections"]["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/production"])
def test_the_pods_settings_are_settings_the_services_read(kustomize, overlay: str) -> None:
    documents = kustomize(overlay)
    [config] = of_kind(documents, "ConfigMap").values()
    known = {f"FASTHOOK_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert set(config["data"]) <= known
    settings = load_settings(config["data"])  # every value parses as its field's type
    for name, deployment in of_kind(documents, "Deployment").items():
        service = name.removeprefix("fasthook-")
        spec = container(deployment)
        assert spec["command"] == ["python", "-m", service]
        assert {e["name"] for e in spec.get("env", [])} <= known
        assert [p["containerPort"] for p in spec["ports"] if p["name"] == "http"] == [
            getattr(settings, f"{service}_port")
        ]
        probes = [spec[p]["httpGet"] for p in ("readinessProbe", "livenessProbe")]
        assert [p["path"] for p in probes] == ["/readyz", "/healthz"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        metrics_port = (
            settings.ingress_metrics_port
            if service == "ingress"
            else getattr(settings, f"{service}_port")
        )
        assert annotations["prometheus.io/port"] == str(metrics_port)
    replication = int(config["data"]["FASTHOOK_TOPIC_REPLICATION"])
    assert replication == (1 if overlay == "overlays/dev" else 3)


def test_every_service_port_is_the_one_its_pods_listen_on(kustomize) -> None:
    documents = kustomize("overlays/production")
    deployments = of_kind(documents, "Deployment")
    for name, service in of_kind(documents, "Service").items():
        target = deployments[name]
        assert service["spec"]["selector"] == target["spec"]["selector"]["matchLabels"]
        named = {p["name"] for p in container(target)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= named
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"  # nothing exposed
