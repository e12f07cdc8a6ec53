"""`fasthook run`: the whole gateway on one machine, supervised.

Embedded by default (a noida-db broker under `.fasthook/`); with FASTHOOK_KAFKA_BOOTSTRAP set it
uses that cluster instead and starts only the services.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from api.admin import Admin, admin_session
from api.entities import hash_key, new_entity, public
from api.models import SourceIn
from fasthook.embedded import broker_command, wait_for_kafka
from fasthook.errors import EmbeddedStackError
from fasthook.supervisor import ServiceSpec, Supervisor
from runtime.kafka import ensure_topics
from runtime.secrets import generate_key
from runtime.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TEAM = "default"
DEMO_SOURCE = {
    # Not the guide's own name: a newcomer who follows the guide's `POST /v1/sources` verbatim
    # must get 201, not 409 against this demo.
    "name": "demo-twilio-status",
    "description": "Demo source made by `fasthook run` (Twilio status callbacks, unsigned)",
    "type": "WEBHOOK",
    "status": "enabled",
    "config": {
        "auth_type": None,
        "auth": None,
        "allowed_http_methods": ["POST", "GET"],
        "custom_response": {"content_type": "json", "body": '{"queued":true}'},
    },
}


def write_private(path: Path, value: str) -> None:
    """Write `value` to `path` readable by its owner only, from the first byte on.

    The file is created 0600 (O_EXCL: never an existing file or a planted link), fchmod-ed in
    case the umask took bits away, filled, then renamed over `path`: no moment exists where
    another user could open it, and a crash leaves the old value whole.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = value.encode()
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)


def local_secret(path: Path, make: Any) -> str:
    """A value kept in the data dir (mode 600) so it survives restarts."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    write_private(path, value)
    return value


ANALYST = "analyst"


def analyst_url(settings: Settings, name: str, password: str) -> str:
    """Where the analyst connects: the embedded engine's endpoint, else the ClickHouse server."""
    if settings.clickhouse_dsn.startswith(("http://", "https://")):
        scheme, _, rest = settings.clickhouse_dsn.partition("://")
        return f"{scheme}://{name}:{password}@{rest.rpartition('@')[2]}"
    return f"http://{name}:{password}@{settings.analysts_host}:{settings.analysts_port}"


async def ready_analyst(admin: Admin, data_dir: Path) -> str:
    """The password of the `analyst` credential `make run` prints (unscoped), kept in the data
    dir like the admin key; made again if it was lost or revoked."""
    password_file = data_dir / "analyst.password"
    password = password_file.read_text().strip() if password_file.exists() else ""
    held = admin.active_analyst(ANALYST)
    if held is not None and password and held["hash"] == hash_key(password):
        return password
    if held is not None:
        await admin.revoke_analyst(ANALYST)
    password, _ = await admin.create_analyst(ANALYST)
    write_private(password_file, password)
    return password


async def bootstrap(admin: Admin, data_dir: Path) -> tuple[dict, str, dict]:
    """Idempotently: the default team, an admin key, and the demo source."""
    team = await admin.ensure_team(DEFAULT_TEAM)
    key_file = data_dir / "admin.key"
    key = key_file.read_text().strip() if key_file.exists() else ""
    held = admin.view.key_by_hash(hash_key(key)) if key else None
    if held is None or held.get("revoked_at") or team["id"] not in held["team_ids"]:
        key, _ = await admin.create_key("admin (make run)", [team["id"]])
        write_private(key_file, key)
    source = admin.view.named("source", team["id"], DEMO_SOURCE["name"])
    if source is None:
        model = SourceIn.model_validate(DEMO_SOURCE)
        model.problems()
        body = model.model_dump(mode="json")
        source = await admin.store.put("source", new_entity("source", team["id"], body, admin.box))
    return team, key, source


async def wait_ready(url: str, name: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise EmbeddedStackError(f"{name} was not ready at {url} within {timeout_s}s")


def banner(settings: Settings, team: dict, key: str, source: dict, embedded: bool,
           analyst_password: str) -> str:
    api = settings.api_base_url
    source_url = public("source", source, settings.public_base_url)["url"]
    auth = f'-H "Authorization: Bearer {key}"'
    return "\n".join([
        "",
        "FastHook is running" + (" on the embedded broker" if embedded else ""),
        f"  API:          {api}/v1   (spec: {api}/v1/openapi.json)",
        f"  API key:      {key}   (team {team['id']}, {team['name']})",
        f"  Console:      {settings.console_base_url}   (sign in with the API key above)",
        f"  Ingress:      {settings.public_base_url}   (probes: /healthz /readyz)",
        f"  Ingress metrics: http://{settings.ingress_metrics_host}:"
        f"{settings.ingress_metrics_port}/metrics   (private: keep it off the public network)",
        f"  Router:       http://{settings.router_host}:{settings.router_port}   (probes, metrics)",
        f"  Deliverer:    http://{settings.deliverer_host}:{settings.deliverer_port}"
        "   (probes, metrics)",
        f"  Issues:       http://{settings.issues_host}:{settings.issues_port}"
        "   (probes, metrics: open issues by type)",
        f"  Projections:  http://{settings.projections_host}:{settings.projections_port}"
        "   (ClickHouse projector; queries go through the API)",
        f"  ClickHouse:   {analyst_url(settings, ANALYST, analyst_password)}"
        "   (read-only, any ClickHouse client: docs/analysts.md)",
        f"  Kafka:        {settings.kafka_bootstrap} (topics {settings.topic_namespace}.*)",
        f"  Demo source:  {source_url}   ({source['id']})",
        "",
        "Point a provider at a source URL plus any path, e.g. a Twilio status callback:",
        f"  {source_url}/twilio/status",
        "Try it:",
        f"  curl -i -X POST '{source_url}/twilio/status' -d 'MessageStatus=delivered'",
        f"  curl -s {api}/v1/sources {auth}",
        "Behind a proxy or tunnel, set FASTHOOK_PUBLIC_URL to the public base URL:",
        "Twilio signs the URL it calls.",
        "Ctrl-C stops everything.",
        "",
    ])


def prepare_data_dir(settings: Settings) -> Path:
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


async def run_stack(settings: Settings, data_dir: Path, *, embedded_kafka_port: int) -> None:
    embedded = "FASTHOOK_KAFKA_BOOTSTRAP" not in os.environ
    if embedded:
        settings = settings.with_(kafka_bootstrap=f"127.0.0.1:{embedded_kafka_port}")
    if not settings.secret_key:
        settings = settings.with_(secret_key=local_secret(data_dir / "secret.key", generate_key))
    env = {
        "FASTHOOK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FASTHOOK_TOPIC_NAMESPACE": settings.topic_namespace,
        "FASTHOOK_INGRESS_HOST": settings.ingress_host,
        "FASTHOOK_INGRESS_PORT": str(settings.ingress_port),
        "FASTHOOK_INGRESS_METRICS_HOST": settings.ingress_metrics_host,
        "FASTHOOK_INGRESS_METRICS_PORT": str(settings.ingress_metrics_port),
        "FASTHOOK_API_HOST": settings.api_host,
        "FASTHOOK_API_PORT": str(settings.api_port),
        "FASTHOOK_PUBLIC_URL": settings.public_base_url,
        "FASTHOOK_SECRET_KEY": settings.secret_key,
        "FASTHOOK_ROUTER_HOST": settings.router_host,
        "FASTHOOK_ROUTER_PORT": str(settings.router_port),
        "FASTHOOK_DATA_DIR": str(data_dir),
        "FASTHOOK_DELIVERER_HOST": settings.deliverer_host,
        "FASTHOOK_DELIVERER_PORT": str(settings.deliverer_port),
        # On one machine the receivers usually run on it too.
        "FASTHOOK_ALLOWED_DESTINATIONS": settings.allowed_destinations or "127.0.0.1/32,::1/128",
        "FASTHOOK_PROJECTIONS_HOST": settings.projections_host,
        "FASTHOOK_PROJECTIONS_PORT": str(settings.projections_port),
        "FASTHOOK_CLICKHOUSE_DSN": settings.clickhouse_dsn,
        "FASTHOOK_CONSOLE_HOST": settings.console_host,
        "FASTHOOK_CONSOLE_PORT": str(settings.console_port),
        "FASTHOOK_ANALYSTS_HOST": settings.analysts_host,
        "FASTHOOK_ANALYSTS_PORT": str(settings.analysts_port),
        "FASTHOOK_ISSUES_HOST": settings.issues_host,
        "FASTHOOK_ISSUES_PORT": str(settings.issues_port),
    }
    supervisor = Supervisor(grace_s=settings.shutdown_timeout_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if embedded:
            supervisor.add(
                ServiceSpec("broker", broker_command(data_dir / "kafka", embedded_kafka_port))
            )
            await wait_for_kafka(settings.kafka_bootstrap, timeout_s=60)
        created = await ensure_topics(settings.kafka_bootstrap, settings.topics,
                                      replication=settings.topic_replication)
        if created:
            log.info("topics created", extra={"topics": created})
        async with admin_session(settings) as admin:
            team, key, source = await bootstrap(admin, data_dir)
            analyst_password = await ready_analyst(admin, data_dir)
        supervisor.add(ServiceSpec("ingress", [sys.executable, "-m", "ingress"], env))
        supervisor.add(ServiceSpec("api", [sys.executable, "-m", "api"], env))
        supervisor.add(ServiceSpec("router", [sys.executable, "-m", "router"], env))
        supervisor.add(ServiceSpec("deliverer", [sys.executable, "-m", "deliverer"], env))
        supervisor.add(ServiceSpec("issues", [sys.executable, "-m", "issues"], env))
        # The one process that owns the embedded ClickHouse path: projector + queries.
        supervisor.add(ServiceSpec("projections", [sys.executable, "-m", "projections"], env))
        supervisor.add(ServiceSpec("console", [sys.executable, "-m", "console"], env))
        await wait_ready(f"http://{settings.ingress_host}:{settings.ingress_port}/readyz",
                         "ingress")
        await wait_ready(f"{settings.api_base_url}/readyz", "api")
        await wait_ready(f"http://{settings.router_host}:{settings.router_port}/readyz", "router")
        await wait_ready(f"http://{settings.deliverer_host}:{settings.deliverer_port}/readyz",
                         "deliverer")
        await wait_ready(
            f"http://{settings.projections_host}:{settings.projections_port}/readyz",
            "projections")
        await wait_ready(f"http://{settings.issues_host}:{settings.issues_port}/readyz",
                         "issues")
        await wait_ready(f"{settings.console_base_url}/readyz", "console")
        print(banner(settings, team, key, source, embedded, analyst_password), flush=True)
        await stop.wait()
        print("stopping…", flush=True)
    finally:
        await supervisor.stop(
            order=["console", "ingress", "api", "router", "deliverer", "issues", "projections",
                   "broker"])
