"""Settings from the environment (``FASTHOOK_*``), read once per process into a frozen value."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from runtime.errors import SettingsError
from schemas import limits
from schemas.topics import Topics

INGRESS_SERVERS = ("aiohttp", "lean")


@dataclass(frozen=True, slots=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_namespace: str = "fasthook"
    # 1 suits the embedded broker; a production cluster wants 3.
    topic_replication: int = 1
    # Where ingress listens, and the public base URL providers call (behind a proxy the two
    # differ; Twilio signs the public one).
    ingress_host: str = "127.0.0.1"
    ingress_port: int = 8080
    public_url: str = ""
    # The ingress's /metrics (its labels name every source) is served here only, off the public
    # port; /healthz and /readyz stay on the public port for load balancers.
    ingress_metrics_host: str = "127.0.0.1"
    ingress_metrics_port: int = 8085
    # Slow clients: a connection must deliver a request's headers within the first, and its
    # whole body within the second (408, closed); idle keep-alive connections close after the
    # first too.
    ingress_header_timeout_s: float = 10.0
    ingress_body_timeout_s: float = 30.0
    # Connections the kernel holds for the ingress before it accepts them. A burst beyond it
    # (a provider opening a connection per callback, a stall of the process) has its SYNs
    # dropped, and each dropped client waits its 1 s SYN retransmission: aiohttp's 128 did
    # that in the ingest benchmark. Linux caps it at net.core.somaxconn.
    ingress_listen_backlog: int = 1024
    # What serves the ingress's public port: `lean` (ingress/server.py, an asyncio Protocol
    # around httptools: less CPU per request, docs/benchmarks.md) or `aiohttp` (its own server).
    ingress_server: str = "lean"
    api_host: str = "127.0.0.1"
    api_port: int = 8081
    # Where the deliverer reaches the API's relay to `fasthook listen` sessions (CLI
    # destinations); empty = http://api_host:api_port. Behind a load balancer, the API replica
    # holding the sessions (see docs/cli-listen.md).
    relay_url: str = ""
    # The router serves its probes and metrics here.
    router_host: str = "127.0.0.1"
    router_port: int = 8082
    # This worker's stable name in its consumer group (Kafka static membership): a worker that
    # restarts under the same name takes its partitions back at once. Unique per worker; the
    # host name when empty.
    instance_id: str = ""
    # How many processes `fasthook run` starts per service (fasthook.workers): `workers` for
    # each of ingress, router and deliverer, unless its own count (0 = as `workers`) says
    # otherwise. The ingress's workers share its public port (SO_REUSEPORT); router and
    # deliverer workers share their consumer groups' partitions (8 per topic: more idle).
    workers: int = 1
    ingress_workers: int = 0
    router_workers: int = 0
    deliverer_workers: int = 0
    # The deliverer serves its probes and metrics here.
    deliverer_host: str = "127.0.0.1"
    deliverer_port: int = 8083
    # Deliveries in flight per worker (memory stays bounded under a backlog), and per
    # destination (one slow destination cannot take every slot).
    deliverer_max_in_flight: int = 1000
    destination_max_in_flight: int = 100
    delivery_connect_timeout_s: float = 5.0
    # Destinations on loopback/private/link-local addresses are refused unless listed here
    # (comma-separated CIDRs); the embedded stack and the tests allow 127.0.0.1.
    allowed_destinations: str = ""
    # Transformations run at once per router worker (capped at 16); one team takes at most a
    # quarter of them, so its slow code never queues another team's routing.
    router_concurrency: int = 8
    # Fernet key sealing secrets (source auth, destination credentials, signing secrets) on
    # the config topic. Every service that reads secrets needs the same key.
    secret_key: str = ""
    # How long a rotated destination signing secret stays valid beside the new one.
    signing_secret_grace_s: int = 24 * 60 * 60
    # May be lowered per deployment, never raised above the contract's limits: every Kafka
    # client and topic is sized for those (schemas.limits).
    max_body_bytes: int = limits.MAX_BODY_BYTES
    max_headers: int = limits.MAX_HEADER_COUNT
    max_header_bytes: int = limits.MAX_HEADER_BYTES
    # How long a provider waits for the broker's ack before we answer 503.
    produce_timeout_s: float = 10.0
    # How long the router's and the deliverer's producers gather records into a batch before
    # sending it: up to that much latency per routed request (the deliverer's records, its
    # attempts, come after the delivery), against a produce request (and a socket write on
    # each side) per record or two (docs/benchmarks.md: ~10% of the router's CPU per request).
    # The ingress answers on its records' acks and keeps 1 ms.
    produce_linger_ms: float = 5.0
    # After a fetch that brought records, a group consumer (router, deliverer, projector) waits
    # up to this long before its next fetch, gathering what arrives meanwhile into one batch:
    # what fetch.min.bytes / fetch.max.wait.ms do on a Kafka broker, which the embedded one does
    # not do. The wait shrinks with the records still waiting for the consumer and is none in a
    # backlog (runtime.resting.gather_wait): at a steady few hundred requests a second, fetches
    # carry ten records instead of one or two (docs/benchmarks.md). 0 fetches again at once.
    fetch_gather_ms: float = 20.0
    retry_after_s: int = 5
    shutdown_timeout_s: float = 15.0
    # The issues job serves its probes and metrics (open issues by type) here.
    issues_host: str = "127.0.0.1"
    issues_port: int = 8087
    # --- projections (issue #6) -------------------------------------------------------
    # The query service (`python -m projections`): projector + query API in one process,
    # because the embedded engine (chdb) allows one owner per data path.
    projections_host: str = "127.0.0.1"
    projections_port: int = 8084
    # ClickHouse: `http(s)://user:pass@host:8123` for a server; empty = the embedded chdb
    # engine at `<data_dir>/clickhouse`.
    clickhouse_dsn: str = ""
    # Database holding the tables; empty = derived from the topic namespace.
    clickhouse_database: str = ""
    # A ClickHouse cluster (a name in the servers' remote_servers) to create the tables on:
    # replicated, sharded, queried through Distributed tables (projections.layout). Empty:
    # one server (or the embedded engine).
    clickhouse_cluster: str = ""
    # Rows older than this are dropped by ClickHouse TTL; 0 keeps everything.
    projections_retention_days: int = 30
    # The projector writes a batch when it has this many records or this much time passed.
    # Every insert makes a ClickHouse part (~5-15 ms of engine CPU however few its rows, and
    # merges later): a longer window is less CPU per record under steady traffic, for views
    # that trail the topics by as much (docs/benchmarks.md, "the projector").
    projector_batch_records: int = 5000
    projector_batch_ms: int = 1000
    # What this projections process does (docs/operations.md, "Scaling projections"): "all"
    # (the projector, the query routes and bulk jobs: the single-process default), "projector"
    # (only projects; any number share the topics' partitions in one consumer group) or
    # "query" (only serves queries and runs bulk jobs; stateless, any number).
    projections_role: str = "all"
    # The projector's consumer group; empty = `<namespace>-projector`. Workers writing to one
    # ClickHouse share the default; a replica with its own embedded engine needs every row,
    # so it needs a group of its own.
    projector_group: str = ""
    # A bulk job's lease: a replica that stops renewing it for this long loses the job to
    # another replica (which resumes it from its last committed page).
    bulk_lease_s: float = 30.0
    # --- analysts (issue #16): the read-only ClickHouse HTTP endpoint of the projections
    # process (embedded engine only; with a ClickHouse server analysts use the server).
    analysts_host: str = "127.0.0.1"
    analysts_port: int = 8124
    # Bounds of every analyst statement (in production: the analyst user's settings).
    analysts_max_execution_s: int = 30
    analysts_max_memory_bytes: int = 2 * 1024**3
    analysts_max_result_rows: int = 1_000_000
    analysts_max_result_bytes: int = 256 * 1024**2
    # CPU threads per statement and statements at once: what an analyst can take from the
    # projector (which never waits on their locks or threads, only shares the cores).
    analysts_max_threads: int = 1
    analysts_max_concurrent: int = 2
    # The web console (`python -m console`): a browser client of the API above.
    console_host: str = "127.0.0.1"
    console_port: int = 8086
    # A console session lasts this long after sign-in.
    console_session_s: int = 12 * 60 * 60
    # --- end projections ----------------------------------------------------------------
    log_level: str = "INFO"
    log_format: str = "json"
    # The services' event loop: "uvloop" (less CPU per socket event) or "asyncio".
    event_loop: str = "uvloop"
    data_dir: str = ".fasthook"

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_namespace)

    def worker_count(self, service: str) -> int:
        """How many processes of `service` (ingress, router, deliverer) run side by side."""
        own: int = getattr(self, f"{service}_workers")
        return own or self.workers

    def member_name(self, service: str) -> str:
        return f"{service}-{self.instance_id or socket.gethostname()}"

    @property
    def api_base_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def relay_base_url(self) -> str:
        return (self.relay_url or self.api_base_url).rstrip("/")

    @property
    def console_base_url(self) -> str:
        return f"http://{self.console_host}:{self.console_port}"

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://{self.ingress_host}:{self.ingress_port}").rstrip("/")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def variable(name: str) -> str:
    """The environment variable that sets the Settings field `name`."""
    return f"FASTHOOK_{name.upper()}"


def _convert(name: str, raw: str, kind: Any) -> Any:
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
    except ValueError:
        raise SettingsError(f"{variable(name)}={raw!r} is not a {kind}") from None
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(variable(f.name))
        if raw is not None:
            values[f.name] = _convert(f.name, raw, f.type)
    values.update(overrides)
    settings = Settings(**values)
    check_limits(settings)
    return settings


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``FASTHOOK_*`` variables ``load_settings`` reads back as ``settings``: how a launcher
    (``fasthook run``, a test, a benchmark) hands its settings to a service process."""
    return {variable(f.name): str(getattr(settings, f.name)) for f in fields(Settings)}


def check_limits(settings: Settings) -> None:
    """Settings may lower the contract's limits, never raise them (schemas/limits.py: every
    topic and Kafka client is sized for those), and deadlines are positive."""
    for name, ceiling in (
        ("max_body_bytes", limits.MAX_BODY_BYTES),
        ("max_headers", limits.MAX_HEADER_COUNT),
        ("max_header_bytes", limits.MAX_HEADER_BYTES),
    ):
        value = getattr(settings, name)
        if not 0 < value <= ceiling:
            raise SettingsError(
                f"{variable(name)}={value} must be positive and at most "
                f"{ceiling} (schemas.limits: topics and Kafka clients are sized "
                f"for that)"
            )
    if settings.ingress_server not in INGRESS_SERVERS:
        raise SettingsError(
            f"{variable('ingress_server')}={settings.ingress_server!r} is not one of "
            + ", ".join(INGRESS_SERVERS)
        )
    if settings.workers < 1:
        raise SettingsError(f"{variable('workers')} must be at least 1")
    for name in ("ingress_workers", "router_workers", "deliverer_workers"):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{variable(name)} must be at least 0 (0: as FASTHOOK_WORKERS)")
    for name in (
        "ingress_header_timeout_s",
        "ingress_body_timeout_s",
        "ingress_listen_backlog",
        "analysts_max_execution_s",
        "analysts_max_threads",
        "analysts_max_concurrent",
    ):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{variable(name)} must be positive")
