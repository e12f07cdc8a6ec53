"""deploy/compose.yaml is a valid Compose file (the compose-spec JSON schema, as vendored by
check-jsonschema) and its services agree with each other and with runtime/settings.py: every
FASTHOOK_ variable is a setting and parses, each service listens where its healthcheck, its
ports and its callers look, and the workers' static member names are distinct."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from runtime.settings import Settings, load_settings
from schemas import limits
from tests.deploy.conftest import DEPLOY

ROOT = DEPLOY.parent
# ${VAR}, ${VAR:-default}, ${VAR:?error}: compose's interpolation.
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def interpolated(value: object) -> str:
    """The value as compose would pass it, with every required variable set to `set-<name>`."""
    return INTERPOLATION.sub(
        lambda m: m.group(3) if m.group(2) == "-" else f"set-{m.group(1).lower()}", str(value)
    )


def fasthook_services() -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in compose()["services"].items()
        if s.get("image", "").startswith("fasthook:")
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolated(v) for k, v in service.get("environment", {}).items()}


def healthcheck_port(service: dict[str, Any]) -> int | None:
    found = re.search(r"http://127\.0\.0\.1:(\d+)/readyz", " ".join(service["healthcheck"]["test"]))
    return int(found.group(1)) if found else None


def test_the_file_is_valid_against_the_compose_spec() -> None:
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec is not None and spec.submodule_search_locations
    schema_file = (
        Path(spec.submodule_search_locations[0])
        / "builtin_schemas"
        / "vendor"
        / "compose-spec.json"
    )
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    # The schema accepts any mapping of services: make sure it saw ours.
    assert {
        "kafka",
        "clickhouse",
        "topics",
        "ingress",
        "api",
        "router",
        "deliverer",
        "issues",
        "projections",
    } == set(compose()["services"])


def test_every_fasthook_variable_is_a_setting_that_parses() -> None:
    known = {f"FASTHOOK_{name.upper()}" for name in Settings.__dataclass_fields__}
    for name, service in fasthook_services().items():
        env = environment(service)
        assert set(env) <= known, (name, set(env) - known)
        load_settings(env)  # every value parses as its field's type
        assert env["FASTHOOK_SECRET_KEY"] == "set-fasthook_secret_key", name  # required
        assert env["FASTHOOK_TOPIC_REPLICATION"] == "1"  # one broker


@pytest.mark.parametrize("name", ["ingress", "api", "router", "deliverer", "issues", "projections"])
def test_a_service_listens_where_it_is_checked_and_published(name: str) -> None:
    service = fasthook_services()[name]
    assert service["command"] == ["python", "-m", name]
    assert (ROOT / name / "__main__.py").is_file()
    settings = load_settings(environment(service))
    port = getattr(settings, f"{name}_port")
    assert getattr(settings, f"{name}_host") == "0.0.0.0"  # reachable from other containers
    assert healthcheck_port(service) == port
    published = {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}
    exposed = {int(p) for p in service.get("expose", [])}
    assert published <= {port}
    assert exposed <= {port, settings.ingress_metrics_port}
    assert service["depends_on"]["topics"] == {"condition": "service_completed_successfully"}
    if name == "api":  # the control plane only on the host's loopback
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
    if name in ("router", "deliverer", "issues", "projections"):
        assert "ports" not in service  # probes and metrics only; projections only for the api


def test_the_services_find_each_other() -> None:
    services = compose()["services"]
    ours = fasthook_services()
    by_name = {name: load_settings(environment(s)) for name, s in ours.items()}
    # Kafka: the broker's advertised PLAINTEXT listener.
    advertised = dict(
        x.split("://")
        for x in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    assert {s.kafka_bootstrap for s in by_name.values()} == {advertised["PLAINTEXT"]}
    assert int(services["kafka"]["environment"]["KAFKA_MESSAGE_MAX_BYTES"]) >= (
        limits.MAX_MESSAGE_BYTES
    )
    # The api forwards to projections where projections listens.
    api, projections = by_name["api"], by_name["projections"]
    assert api.projections_host == "projections"
    assert api.projections_port == projections.projections_port
    # The deliverer's relay is the api.
    relay = urlsplit(by_name["deliverer"].relay_url)
    assert (relay.hostname, relay.port) == ("api", api.api_port)
    # Projections' ClickHouse is the clickhouse service, as its user.
    dsn = urlsplit(projections.clickhouse_dsn)
    clickhouse = services["clickhouse"]["environment"]
    assert (dsn.hostname, dsn.port, dsn.username) == (
        "clickhouse",
        8123,
        clickhouse["CLICKHOUSE_USER"],
    )
    assert dsn.password == "set-clickhouse_password"
    # Ingress and api build source URLs on the same public base URL.
    assert by_name["ingress"].public_url == api.public_url


def test_the_workers_have_distinct_static_member_names() -> None:
    ids = {
        name: environment(s).get("FASTHOOK_INSTANCE_ID") for name, s in fasthook_services().items()
    }
    workers = {name: ids[name] for name in ("router", "deliverer", "projections")}
    assert all(workers.values())
    assert len(set(workers.values())) == len(workers)
