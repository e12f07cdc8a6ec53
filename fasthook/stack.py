"""`fasthook run`: the whole gateway on one machine, supervised.

Embedded by default (a noida-db broker under `.fasthook/`); with FASTHOOK_KAFKA_BOOTSTRAP set it
uses that cluster instead and starts only the services.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from api.config_log import complete_source, publish_entity
from fasthook.embedded import broker_command, wait_for_kafka
from fasthook.errors import EmbeddedStackError
from fasthook.supervisor import ServiceSpec, Supervisor
from runtime.kafka import ensure_topics, make_producer
from runtime.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TEAM = "tm_default"
DEMO_SOURCE = {
    "name": "Twilio status callbacks",
    "description": "Twilio messaging and voice status callback source",
    "config": {
        "auth_type": None,
        "auth": None,
        "allowed_http_methods": ["POST", "GET"],
        "custom_response": {"content_type": "json", "body": '{"queued":true}'},
    },
}


def demo_source(data_dir: Path) -> dict[str, Any]:
    """The demo source, created once and kept in the data dir so its URL never changes."""
    path = data_dir / "demo-source.json"
    if path.exists():
        return json.loads(path.read_text())
    source = complete_source(dict(DEMO_SOURCE), DEFAULT_TEAM)
    path.write_text(json.dumps(source, indent=2))
    return source


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


def banner(settings: Settings, source: dict[str, Any], embedded: bool) -> str:
    ingress = settings.public_base_url
    source_url = f"{ingress}/{source['token']}"
    lines = [
        "",
        "FastHook is running" + (" on the embedded broker" if embedded else ""),
        f"  Kafka:        {settings.kafka_bootstrap} (topics {settings.topic_namespace}.*)",
        f"  Ingress:      {ingress}   (/healthz /readyz /metrics)",
        f"  Demo source:  {source_url}   ({source['id']}, team {source['team_id']})",
        "",
        "Point a provider at the source URL plus any path, e.g. a Twilio status callback:",
        f"  {source_url}/twilio/status",
        "Try it:",
        f"  curl -i -X POST '{source_url}/twilio/status' -d 'MessageStatus=delivered'",
        "Behind a proxy or tunnel, set FASTHOOK_PUBLIC_URL to the public base URL:",
        "Twilio signs the URL it calls.",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


async def run_stack(settings: Settings, *, embedded_kafka_port: int) -> None:
    data_dir = Path(settings.data_dir).resolve()  # noqa: ASYNC240 - once, before any I/O loop
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded = "FASTHOOK_KAFKA_BOOTSTRAP" not in os.environ
    if embedded:
        settings = settings.with_(kafka_bootstrap=f"127.0.0.1:{embedded_kafka_port}")
    env = {
        "FASTHOOK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FASTHOOK_TOPIC_NAMESPACE": settings.topic_namespace,
        "FASTHOOK_INGRESS_PORT": str(settings.ingress_port),
        "FASTHOOK_INGRESS_HOST": settings.ingress_host,
        "FASTHOOK_PUBLIC_URL": settings.public_base_url,
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
        created = await ensure_topics(settings.kafka_bootstrap, settings.topics)
        if created:
            log.info("topics created", extra={"topics": created})
        source = demo_source(data_dir)
        producer = make_producer(settings.kafka_bootstrap)
        await producer.start()
        try:
            await publish_entity(producer, settings.topics.config, "source", source)
        finally:
            await producer.stop()
        supervisor.add(ServiceSpec("ingress", [sys.executable, "-m", "ingress"], env))
        await wait_ready(f"http://{settings.ingress_host}:{settings.ingress_port}/readyz",
                         "ingress")
        print(banner(settings, source, embedded), flush=True)
        await stop.wait()
        print("stopping…", flush=True)
    finally:
        await supervisor.stop(order=["ingress", "broker"])
