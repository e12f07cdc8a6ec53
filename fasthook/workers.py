"""How `fasthook run --workers N` lays out a service's processes: their names, their own ports
and their consumer-group member names. Pure: fasthook.stack supervises what this describes.

- Ingress workers share the public port (each binds it with SO_REUSEPORT; the kernel spreads
  connections over them); each keeps a private port of its own for /metrics and its probes,
  so every process stays scrapeable.
- Router and deliverer workers are members of the same consumer groups, each under its own
  static member name; each serves its probes and metrics on a port of its own.

A worker's own port is the service's port plus `PORT_STRIDE` per worker after the first
(8082, 8182, 8282 … for the router), so the defaults of different services never meet.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.settings import Settings, variable

# The services `--workers` multiplies; the rest run one process each (projections scales by
# roles of its own: docs/operations.md, "Scaling projections").
SCALED = ("ingress", "router", "deliverer")
# The Settings prefix (`<prefix>_host`, `<prefix>_port`) of the port each worker has alone.
OWN_PORT = {"ingress": "ingress_metrics", "router": "router", "deliverer": "deliverer"}
PORT_STRIDE = 100


@dataclass(frozen=True)
class Worker:
    service: str
    index: int  # 1, 2, …
    name: str  # the supervisor's and the log file's: "router" alone, "router-2" among several
    settings: Settings  # what this process runs with: its own port, its member name


def worker_name(service: str, index: int, count: int) -> str:
    return service if count == 1 else f"{service}-{index}"


def own_port(settings: Settings, service: str, index: int) -> int:
    port: int = getattr(settings, f"{OWN_PORT[service]}_port")
    return port + PORT_STRIDE * (index - 1)


def workers(settings: Settings, service: str, host: str) -> list[Worker]:
    """The processes of `service`. `host` names a worker when FASTHOOK_INSTANCE_ID is empty
    (as Settings.member_name does). The first worker keeps the service's port and member name,
    so a stack that grows from one worker keeps its partitions where they were."""
    if service not in SCALED:
        return [Worker(service, 1, service, settings)]
    count = settings.worker_count(service)
    # Every worker is told the count: the ingress shares its port only among several, and
    # router and deliverer workers leave their groups when they stop (a later run may have
    # fewer of them, and a static member that never comes back keeps its partitions).
    settings = settings.with_(**{f"{service}_workers": count})
    found = []
    for index in range(1, count + 1):
        changes: dict[str, object] = {}
        if index > 1:
            changes[f"{OWN_PORT[service]}_port"] = own_port(settings, service, index)
            changes["instance_id"] = f"{settings.instance_id or host}-{index}"
        found.append(
            Worker(
                service,
                index,
                worker_name(service, index, count),
                settings.with_(**changes),
            )
        )
    return found


def layout(settings: Settings, services: tuple[str, ...], host: str) -> list[Worker]:
    """Every process of these services, in their order."""
    return [worker for service in services for worker in workers(settings, service, host)]


def extra_ports(settings: Settings) -> list[tuple[str, str, int, str]]:
    """(what, host, port, the variable that moves it) of the ports workers after the first
    bind: what `fasthook run` checks beside the services' own."""
    ports = []
    for service in SCALED:
        prefix = OWN_PORT[service]
        for index in range(2, settings.worker_count(service) + 1):
            ports.append(
                (
                    f"{prefix.replace('_', ' ')} of worker {index}",
                    getattr(settings, f"{prefix}_host"),
                    own_port(settings, service, index),
                    f"{variable(f'{prefix}_port')} (+{PORT_STRIDE} per worker)",
                )
            )
    return ports


def with_counts(
    settings: Settings,
    workers: int | None = None,
    ingress: int | None = None,
    router: int | None = None,
    deliverer: int | None = None,
) -> Settings:
    """`fasthook run`'s options over the environment's settings: `--workers` for every scaled
    service, a service's own option over that (None: not given)."""
    changes = {
        name: value
        for name, value in (
            ("workers", workers),
            ("ingress_workers", ingress),
            ("router_workers", router),
            ("deliverer_workers", deliverer),
        )
        if value is not None
    }
    return settings.with_(**changes)
