"""`fasthook run`: the whole gateway on one machine, supervised.

Embedded by default (a noida-db broker under `.fasthook/`); with FASTHOOK_KAFKA_BOOTSTRAP set it
uses that cluster instead and starts only the services.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from api.admin import Admin, admin_session
from api.entities import hash_key, new_entity, public
from api.models import SourceIn
from api.view import Entity
from fasthook.dashboard import Dashboard, TerminalHandler
from fasthook.embedded import broker_command, wait_for_kafka
from fasthook.errors import EmbeddedStackError
from fasthook.files import local_secret, write_private
from fasthook.logfiles import LAUNCHER, SERVICES, Follower, log_dir, log_path
from fasthook.supervisor import ServiceSpec, Supervisor
from fasthook.workers import Worker, extra_ports, layout
from runtime.kafka import ensure_topics
from runtime.logs import JsonFormatter, configure_logging
from runtime.secrets import generate_key
from runtime.settings import Settings, settings_environment, variable
from schemas.topics import CATALOG

log = logging.getLogger(__name__)

DEFAULT_TEAM = "default"
# The services `fasthook run` supervises, in the order they start.
STARTED = ("ingress", "api", "router", "deliverer", "projections", "issues", "console")
# And the order they stop in (the embedded broker last): each writer before what it writes to.
STOPPED = ("console", "ingress", "api", "router", "deliverer", "issues", "projections")
# Partitions of the topics router and deliverer workers share: more workers than that idle.
GROUP_PARTITIONS = min(s.partitions for s in CATALOG if s.suffix in ("requests", "events"))
DEMO_SOURCE: dict[str, Any] = {
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


async def bootstrap(admin: Admin, data_dir: Path) -> tuple[Entity, str, Entity]:
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


async def wait_ready(
    url: str, name: str, timeout_s: float = 60, log_file: Path | None = None
) -> None:
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
    raise EmbeddedStackError(
        f"{name} was not ready at {url} within {timeout_s}s" + last_lines(log_file)
    )


def last_lines(log_file: Path | None, count: int = 15) -> str:
    """The end of a service's log, for an error that says it did not come up."""
    if log_file is None or not log_file.exists():
        return ""
    lines = log_file.read_text(errors="replace").splitlines()[-count:]
    return f"; the end of {log_file}:\n" + "\n".join(lines)


def banner(
    settings: Settings,
    team: Entity,
    key: str,
    source: Entity,
    embedded: bool,
    analyst_password: str,
    logs: Path,
    processes: list[Worker] | None = None,
) -> str:
    processes = processes or layout(settings, STARTED, socket.gethostname())
    api = settings.api_base_url
    source_url = public("source", source, settings.public_base_url)["url"]
    auth = f'-H "Authorization: Bearer {key}"'
    return "\n".join(
        [
            "",
            "FastHook is running" + (" on the embedded broker" if embedded else ""),
            f"  API:          {api}/v1   (spec: {api}/v1/openapi.json)",
            f"  API key:      {key}   (team {team['id']}, {team['name']})",
            f"  Console:      {settings.console_base_url}   (sign in with the API key above)",
            f"  Ingress:      {settings.public_base_url}   (probes: /healthz /readyz"
            + _shared_port(processes)
            + ")",
            "  Ingress metrics: "
            + " ".join(
                f"http://{w.settings.ingress_metrics_host}:{w.settings.ingress_metrics_port}"
                "/metrics"
                for w in processes
                if w.service == "ingress"
            )
            + "   (private: keep it off the public network"
            + ("; one per process, probes too" if _count(processes, "ingress") > 1 else "")
            + ")",
            f"  Router:       {_worker_urls(processes, 'router')}   (probes, metrics"
            + _group_note(processes, "router")
            + ")",
            f"  Deliverer:    {_worker_urls(processes, 'deliverer')}   (probes, metrics"
            + _group_note(processes, "deliverer")
            + ")",
            f"  Issues:       http://{settings.issues_host}:{settings.issues_port}"
            "   (probes, metrics: open issues by type)",
            f"  Projections:  http://{settings.projections_host}:{settings.projections_port}"
            "   (ClickHouse projector; queries go through the API)",
            f"  ClickHouse:   {analyst_url(settings, ANALYST, analyst_password)}"
            "   (read-only, any ClickHouse client: docs/analysts.md)",
            f"  Kafka:        {settings.kafka_bootstrap} (topics {settings.topic_namespace}.*)",
            f"  Logs:         {logs}   (`fasthook logs [SERVICE] -f`)",
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
        ]
    )


def _count(processes: list[Worker], service: str) -> int:
    return sum(1 for w in processes if w.service == service)


def _worker_urls(processes: list[Worker], service: str) -> str:
    return " ".join(
        f"http://{getattr(w.settings, f'{service}_host')}:{getattr(w.settings, f'{service}_port')}"
        for w in processes
        if w.service == service
    )


def _shared_port(processes: list[Worker]) -> str:
    count = _count(processes, "ingress")
    return f"; {count} processes on this one port, SO_REUSEPORT" if count > 1 else ""


def _group_note(processes: list[Worker], service: str) -> str:
    count = _count(processes, service)
    if count == 1:
        return ""
    idle = (
        f"; {count - GROUP_PARTITIONS} beyond the topics' {GROUP_PARTITIONS} partitions idle"
        if count > GROUP_PARTITIONS
        else ""
    )
    return f"; {count} workers in its consumer groups{idle}"


def start_waves(processes: list[Worker]) -> list[list[Worker]]:
    """The processes in the order they start: every service's first worker at once, then the
    second ones once those are ready, and so on. Two deliverers joining their groups at the
    same moment were seen to get an empty assignment from the embedded broker, which aiokafka
    cannot read (that consumer's loop stops, its partitions undelivered until a restart); a
    member joining a settled group is an ordinary rebalance."""
    waves: list[list[Worker]] = []
    for worker in processes:
        while len(waves) < worker.index:
            waves.append([])
        waves[worker.index - 1].append(worker)
    return waves


def probe_url(worker: Worker) -> str:
    """Where the launcher and the dashboard ask this process whether it is ready."""
    settings = worker.settings
    if worker.service == "ingress" and worker.name != "ingress":
        # The public port answers from any of the ingress processes: each one's private port.
        return f"http://{settings.ingress_metrics_host}:{settings.ingress_metrics_port}/readyz"
    if worker.service == "api":
        return f"{settings.api_base_url}/readyz"
    if worker.service == "console":
        return f"{settings.console_base_url}/readyz"
    host = getattr(settings, f"{worker.service}_host")
    return f"http://{host}:{getattr(settings, f'{worker.service}_port')}/readyz"


def prepare_data_dir(settings: Settings) -> Path:
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


async def run_stack(
    settings: Settings, data_dir: Path, *, embedded_kafka_port: int, verbose: bool = False
) -> None:
    """Everything, supervised, until Ctrl-C. The terminal is a dashboard (fasthook.dashboard);
    `verbose` echoes every service's log there too."""
    embedded = "FASTHOOK_KAFKA_BOOTSTRAP" not in os.environ
    if embedded:
        settings = settings.with_(kafka_bootstrap=f"127.0.0.1:{embedded_kafka_port}")
    check_ports(listens(settings, embedded_kafka_port if embedded else None))
    if not settings.secret_key:
        settings = settings.with_(secret_key=local_secret(data_dir / "secret.key", generate_key))
    processes = layout(settings, STARTED, socket.gethostname())
    logs = log_dir(data_dir)
    logs.mkdir(parents=True, exist_ok=True)
    dashboard = Dashboard()
    quiet_launcher_logs(settings, data_dir, dashboard, verbose)
    background: list[asyncio.Task[None]] = []
    if verbose:
        names = [w.name for w in processes]
        followed = [s for s in SERVICES if s not in STARTED] + names
        background.append(asyncio.create_task(dashboard.echo(Follower(data_dir, followed))))
    supervisor = Supervisor(grace_s=settings.shutdown_timeout_s, on_change=dashboard.on_change)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    probes = {worker.name: probe_url(worker) for worker in processes}
    try:
        if embedded:
            supervisor.add(
                ServiceSpec(
                    "broker",
                    broker_command(data_dir / "kafka", embedded_kafka_port),
                    log_path=log_path(data_dir, "broker"),
                )
            )
            try:
                await wait_for_kafka(settings.kafka_bootstrap, timeout_s=60)
            except EmbeddedStackError as exc:
                raise EmbeddedStackError(
                    f"{exc}{last_lines(log_path(data_dir, 'broker'))}"
                ) from None
        created = await ensure_topics(
            settings.kafka_bootstrap, settings.topics, replication=settings.topic_replication
        )
        if created:
            log.info("topics created", extra={"topics": created})

        # The services start now, beside the launcher's own set-up below (their start-up is
        # most of the wait for the banner): they follow the config topic, so the team, key and
        # source it writes reach them as any change does. The projections service is the one
        # process that owns the embedded ClickHouse path; the set-up only writes config.
        def start(workers: list[Worker]) -> None:
            for worker in workers:
                supervisor.add(
                    ServiceSpec(
                        worker.name,
                        [sys.executable, "-m", worker.service],
                        service_env(worker.settings, data_dir),
                        log_path=log_path(data_dir, worker.name),
                    )
                )

        async def ready(workers: list[Worker]) -> None:
            for worker in workers:
                log_file = log_path(data_dir, worker.name)
                await wait_ready(probes[worker.name], worker.name, log_file=log_file)

        waves = start_waves(processes)
        start(waves[0])
        async with admin_session(settings) as admin:
            team, key, source = await bootstrap(admin, data_dir)
            analyst_password = await ready_analyst(admin, data_dir)
        await ready(waves[0])
        for wave in waves[1:]:
            start(wave)
            await ready(wave)
        dashboard.print(
            banner(settings, team, key, source, embedded, analyst_password, logs, processes)
        )
        background.append(asyncio.create_task(dashboard.probe(probes)))
        await stop.wait()
        dashboard.print("stopping…")
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await supervisor.stop(
            order=[
                *([w.name for w in processes if w.service == service] for service in STOPPED),
                "broker",
            ]
        )


def listens(settings: Settings, kafka_port: int | None) -> list[tuple[str, str, int, str]]:
    """(what, host, port, the variable that moves it) of every port `fasthook run` binds."""
    # (what, the Settings prefix of its `_host` and `_port` fields)
    services = [
        ("ingress", "ingress"),
        ("ingress metrics", "ingress_metrics"),
        ("api", "api"),
        ("router", "router"),
        ("deliverer", "deliverer"),
        ("projections", "projections"),
        ("issues", "issues"),
        ("console", "console"),
    ]
    if not settings.clickhouse_dsn.startswith(("http://", "https://")):  # the embedded engine's
        services.append(("analysts' ClickHouse endpoint", "analysts"))
    ports = [
        (
            what,
            getattr(settings, f"{prefix}_host"),
            getattr(settings, f"{prefix}_port"),
            variable(f"{prefix}_port"),
        )
        for what, prefix in services
    ]
    ports += extra_ports(settings)
    if kafka_port is not None:
        ports.insert(0, ("embedded broker", "127.0.0.1", kafka_port, "--kafka-port"))
    return ports


def check_ports(ports: list[tuple[str, str, int, str]]) -> None:
    """Refuse to start, in one clear line, when a port is taken (most often: another
    `fasthook run`), instead of services crash-looping on it."""
    taken = []
    for what, host, port, setting in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                taken.append(f"{what} {host}:{port} (move it with {setting})")
    if taken:
        raise EmbeddedStackError(
            "ports already in use — is another `fasthook run` running? " + "; ".join(taken)
        )


def service_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    """The launcher's settings for its children (runtime.settings.settings_environment)."""
    # On one machine the receivers usually run on it too.
    allowed = settings.allowed_destinations or "127.0.0.1/32,::1/128"
    return settings_environment(
        settings.with_(data_dir=str(data_dir), allowed_destinations=allowed)
    )


def quiet_launcher_logs(
    settings: Settings, data_dir: Path, dashboard: Dashboard, verbose: bool
) -> None:
    """The launcher's own log to fasthook.log; its warnings on the dashboard too (unless
    --verbose, which echoes the whole file anyway)."""
    configure_logging(
        "fasthook", settings.log_level, settings.log_format, path=log_path(data_dir, LAUNCHER)
    )
    if not verbose:
        logging.getLogger().addHandler(TerminalHandler(dashboard, JsonFormatter("fasthook")))
