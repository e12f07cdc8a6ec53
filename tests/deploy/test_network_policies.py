"""The NetworkPolicies in deploy/kubernetes/network-policies say what deploy/README.md says:
projections admits only the api (and Prometheus); the deliverer reaches DNS, Kafka and public
addresses, never a pod, Service, node or metadata address of the cluster."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from deliverer.ssrf import is_blocked

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "network-policies"


def policy(name: str) -> dict[str, Any]:
    [document] = yaml.safe_load_all((POLICIES / f"{name}.yaml").read_text())
    assert document["kind"] == "NetworkPolicy"
    return document["spec"]


def reaches(address: str) -> bool:
    """Whether some ipBlock of the deliverer's egress admits `address`."""
    ip = ipaddress.ip_address(address)
    for rule in policy("deliverer")["egress"]:
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block is None or ip.version != ipaddress.ip_network(block["cidr"]).version:
                continue
            if ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(e) for e in block.get("except", [])
            ):
                return True
    return False


def test_projections_admits_only_the_api_and_prometheus() -> None:
    spec = policy("projections")
    assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "fasthook-projections"}
    assert spec["policyTypes"] == ["Ingress"]
    peers = [peer for rule in spec["ingress"] for peer in rule["from"]]
    assert {"app.kubernetes.io/name": "fasthook-api"} in [
        p["podSelector"]["matchLabels"] for p in peers if "namespaceSelector" not in p
    ]
    assert all("ipBlock" not in p for p in peers)
    assert {p["port"] for rule in spec["ingress"] for p in rule["ports"]} == {"http"}


@pytest.mark.parametrize(
    "address",
    [
        "10.96.0.1",  # a Service ClusterIP (kubeadm's default range)
        "10.244.1.7",  # a pod (flannel/kubeadm)
        "172.20.0.10",
        "192.168.49.2",
        "100.64.3.4",  # other pod/node networks, CGNAT
        "169.254.169.254",  # the cloud metadata endpoint
        "127.0.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "::1",
        "fd00:10:96::1",
        "fe80::1",
        "::ffff:10.96.0.1",
        "64:ff9b::a60:1",
        "ff02::1",
    ],
)
def test_the_deliverer_cannot_reach_the_cluster(address: str) -> None:
    assert not reaches(address)
    assert is_blocked(address, [])  # the deliverer's own guard agrees


@pytest.mark.parametrize("address", ["8.8.8.8", "52.1.2.3", "2606:4700:4700::1111"])
def test_the_deliverer_reaches_public_receivers(address: str) -> None:
    assert reaches(address)
    assert not is_blocked(address, [])


def test_the_deliverer_reaches_dns_kafka_and_the_relay_only_by_name() -> None:
    rules = policy("deliverer")["egress"]
    named = [rule for rule in rules if all("ipBlock" not in peer for peer in rule["to"])]
    ports = sorted((p["port"], p["protocol"]) for rule in named for p in rule["ports"])
    assert ports == [(53, "TCP"), (53, "UDP"), (8081, "TCP"), (9092, "TCP")]
    [relay] = [rule for rule in named if rule["ports"][0]["port"] == 8081]
    assert relay["to"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "fasthook-api"}}}
    ]
