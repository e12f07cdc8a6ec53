"""The operators' resources the production deployment relies on, checked for the fields that
matter (no schema for them offline): KEDA scales router, deliverer and projections on the
consumer groups the services really join; the Strimzi Kafka has three brokers and exactly the
catalog's topics; the Altinity ClickHouse is two shards of two replicas; and the NetworkPolicies
of the production overlay leave only the ingress public."""

from __future__ import annotations

import re
from typing import Any

from deliverer.metrics import DelivererMetrics
from ingress.metrics import IngressMetrics
from issues.metrics import IssuesMetrics
from projections.metrics import ProjectionMetrics
from projections.projector import group_name
from router.metrics import RouterMetrics
from router.requests import group_name as router_group_name
from runtime.settings import load_settings
from schemas import limits
from schemas.topics import Topics
from tests.deploy.conftest import KUBERNETES, of_kind


def test_keda_scales_on_the_groups_the_services_join(kustomize) -> None:
    documents = kustomize("overlays/production")
    [config] = of_kind(documents, "ConfigMap").values()
    settings = load_settings(config["data"])
    ns = settings.topic_namespace
    topics = dict(Topics(ns).all())
    # The group ids as the code makes them (the deliverer's is built inline in its app).
    router_group = router_group_name(settings)
    assert 'f"{ns}-deliverer"' in (KUBERNETES.parents[1] / "deliverer" / "app.py").read_text()
    expected = {
        "fasthook-router": (router_group, topics[f"{ns}.requests"]),
        "fasthook-deliverer": (f"{ns}-deliverer", topics[f"{ns}.events"]),
        "fasthook-projections": (group_name(settings), None),
    }
    deployments = of_kind(documents, "Deployment")
    scaled = of_kind(documents, "ScaledObject")
    assert set(scaled) == set(expected)
    for name, document in scaled.items():
        spec = document["spec"]
        assert spec["scaleTargetRef"] == {"name": name} and name in deployments
        assert document["metadata"]["namespace"] == deployments[name]["metadata"]["namespace"]
        [trigger] = spec["triggers"]
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        group, topic = expected[name]
        assert meta["consumerGroup"] == group
        # The scaler asks the Kafka the pods use: the ConfigMap's bootstrap, via the pod's env.
        assert meta["bootstrapServersFromEnv"] == "FASTHOOK_KAFKA_BOOTSTRAP"
        assert "FASTHOOK_KAFKA_BOOTSTRAP" in config["data"]
        assert int(meta["lagThreshold"]) > 0
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        if topic is None:
            # Projections: the lag of every topic its group reads; its pods are bounded by
            # the partitions of the busiest ones.
            assert "topic" not in meta
            topic = topics[f"{ns}.requests"]
        else:
            assert meta["topic"] == f"{ns}.{topic.suffix}"
        # A pod beyond the partitions would idle.
        assert spec["maxReplicaCount"] == topic.partitions
        assert meta["allowIdleConsumers"] == "false"
        assert spec["minReplicaCount"] >= 2  # the PodDisruptionBudget has a pod to keep


def test_the_kafka_has_three_brokers_and_the_bootstrap_production_names(kustomize) -> None:
    documents = kustomize("platform")
    [kafka] = of_kind(documents, "Kafka").values()
    pools = of_kind(documents, "KafkaNodePool").values()
    assert all(
        p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] for p in pools
    )
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == 3
    assert sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"]) == 3
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    [listener] = [x for x in kafka["spec"]["kafka"]["listeners"] if x["port"] == 9092]
    assert listener["type"] == "internal" and listener["tls"] is False
    name, namespace = kafka["metadata"]["name"], kafka["metadata"]["namespace"]
    bootstrap = f"{name}-kafka-bootstrap.{namespace}.svc:9092"
    [config] = of_kind(kustomize("overlays/production"), "ConfigMap").values()
    assert config["data"]["FASTHOOK_KAFKA_BOOTSTRAP"] == bootstrap
    broker = kafka["spec"]["kafka"]["config"]
    replication = int(config["data"]["FASTHOOK_TOPIC_REPLICATION"])
    assert broker["default.replication.factor"] == replication == 3
    assert broker["min.insync.replicas"] == 2  # acks=all survives one broker down
    assert broker["transaction.state.log.replication.factor"] == 3
    assert broker["offsets.topic.replication.factor"] == 3
    assert broker["auto.create.topics.enable"] is False
    assert broker["message.max.bytes"] >= limits.MAX_MESSAGE_BYTES
    assert broker["replica.fetch.max.bytes"] >= limits.MAX_MESSAGE_BYTES
    # The deliverer's NetworkPolicy lets it reach this namespace on this port.
    deliverer = of_kind(kustomize("overlays/production"), "NetworkPolicy")["fasthook-deliverer"]
    assert {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}],
        "ports": [{"port": 9092, "protocol": "TCP"}],
    } in deliverer["spec"]["egress"]


def test_the_kafka_topics_are_the_catalog(kustomize) -> None:
    documents = kustomize("platform")
    [kafka] = of_kind(documents, "Kafka").values()
    [config] = of_kind(kustomize("overlays/production"), "ConfigMap").values()
    declared = {t["spec"]["topicName"]: t for t in of_kind(documents, "KafkaTopic").values()}
    catalog = dict(Topics(config["data"]["FASTHOOK_TOPIC_NAMESPACE"]).all())
    assert set(declared) == set(catalog)
    for name, spec in catalog.items():
        topic = declared[name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert topic["metadata"]["namespace"] == kafka["metadata"]["namespace"]
        assert topic["spec"]["partitions"] == spec.partitions, name
        assert topic["spec"]["replicas"] == 3
        assert {k: str(v) for k, v in topic["spec"].get("config", {}).items()} == spec.config


def test_the_clickhouse_is_two_shards_of_two_replicas(kustomize) -> None:
    documents = kustomize("platform")
    [chi] = of_kind(documents, "ClickHouseInstallation").values()
    [keeper] = of_kind(documents, "ClickHouseKeeperInstallation").values()
    [cluster] = chi["spec"]["configuration"]["clusters"]
    assert cluster["layout"] == {"shardsCount": 2, "replicasCount": 2}
    [keepers] = keeper["spec"]["configuration"]["clusters"]
    assert keepers["layout"]["replicasCount"] == 3
    [node] = chi["spec"]["configuration"]["zookeeper"]["nodes"]
    keeper_name, keeper_namespace = keeper["metadata"]["name"], keeper["metadata"]["namespace"]
    assert node["host"] == f"keeper-{keeper_name}.{keeper_namespace}.svc"
    users = chi["spec"]["configuration"]["users"]
    assert users["fasthook/k8s_secret_password"].startswith(f"{chi['metadata']['namespace']}/")
    assert users["fasthook/access_management"] == 1  # projections creates its tables and users
    # The production overlay runs projections in cluster mode on this installation's cluster,
    # and the file's DSN names the load-balanced Service (every node holds the tables).
    [config] = of_kind(kustomize("overlays/production"), "ConfigMap").values()
    assert config["data"]["FASTHOOK_CLICKHOUSE_CLUSTER"] == cluster["name"]
    text = (KUBERNETES / "platform" / "clickhouse.yaml").read_text()
    assert f"clickhouse-{chi['metadata']['name']}.{chi['metadata']['namespace']}.svc:8123" in text


def test_only_the_ingress_is_public(kustomize) -> None:
    documents = kustomize("overlays/production")
    policies = [
        p["spec"]
        for p in of_kind(documents, "NetworkPolicy").values()
        if "Ingress" in p["spec"]["policyTypes"]
    ]

    def selected(labels: dict[str, str], selector: dict[str, Any]) -> bool:
        exprs = selector.get("matchExpressions", [])
        return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
            e["operator"] == "In" and labels.get(e["key"]) in e["values"] for e in exprs
        )

    for name, deployment in of_kind(documents, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        guarding = [p for p in policies if selected(labels, p["podSelector"])]
        if name == "fasthook-ingress":
            assert guarding == [], "the ingress takes providers' traffic from anywhere"
            continue
        assert guarding, f"{name} admits anyone"
        for policy in guarding:
            peers = [peer for rule in policy["ingress"] for peer in rule["from"]]
            assert all("ipBlock" not in peer for peer in peers), name
            # Another FastHook pod may call it only if it is the api calling projections or
            # the deliverer calling the api's relay.
            callers = {
                peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                for peer in peers
                if "namespaceSelector" not in peer
            }
            assert callers <= {
                "fasthook-projections": {"fasthook-api"},
                "fasthook-api": {"fasthook-deliverer"},
            }.get(name, set()), name


def exported_series() -> set[str]:
    """Every series name the services' /metrics can show, from the metrics the code registers."""
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    names: set[str] = set()
    for holder in (
        IngressMetrics(),
        RouterMetrics(),
        DelivererMetrics(),
        ProjectionMetrics(),
        IssuesMetrics(),
    ):
        for family in holder.registry.collect():
            names.update(family.name + s for s in suffixes[family.type])
    return names


def test_the_alerts_use_series_the_services_export(kustomize) -> None:
    [rules] = of_kind(kustomize("monitoring"), "PrometheusRule").values()
    exprs = {
        rule["alert"]: str(rule["expr"])
        for group in rules["spec"]["groups"]
        for rule in group["rules"]
    }
    named = {name for expr in exprs.values() for name in re.findall(r"\bfasthook_\w+", expr)}
    assert named and named <= exported_series(), named - exported_series()
    # Lag alerts watch the groups KEDA scales on (and the projector's).
    groups = {g for expr in exprs.values() for g in re.findall(r'consumergroup=~?"([^"]+)"', expr)}
    scaled = {
        s["spec"]["triggers"][0]["metadata"]["consumerGroup"]
        for s in of_kind(kustomize("overlays/production"), "ScaledObject").values()
    }
    assert all(any(re.fullmatch(g, s) for g in groups) for s in scaled)
    # What docs/operations.md promises to alert on.
    for alert in (
        "FastHookConsumerLag",
        "FastHookProjectorLag",
        "FastHookBackpressure",
        "FastHookIssuesOpen",
    ):
        assert alert in exprs
