"""The `fasthook` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from api.config_log import complete_source, publish_entity
from fasthook.stack import DEFAULT_TEAM, run_stack
from runtime.errors import RuntimeSetupError
from runtime.kafka import ensure_topics, make_producer
from runtime.logs import configure_logging
from runtime.settings import Settings, load_settings


async def apply_sources(settings: Settings, declared: list[dict], team_id: str) -> list[dict]:
    sources = [complete_source(entry, team_id) for entry in declared]
    producer = make_producer(settings.kafka_bootstrap)
    await producer.start()
    try:
        for source in sources:
            await publish_entity(producer, settings.topics.config, "source", source)
    finally:
        await producer.stop()
    return sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fasthook", description="FastHook webhook gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole gateway (embedded broker by default)")
    run.add_argument("--kafka-port", type=int, default=19092,
                     help="port of the embedded broker (ignored with FASTHOOK_KAFKA_BOOTSTRAP)")
    commands.add_parser("topics", help="create every topic of the catalog that is missing")
    sources = commands.add_parser("sources", help="publish sources declared in a JSON file")
    sources.add_argument("file", type=Path)
    sources.add_argument("--team", default=DEFAULT_TEAM)
    args = parser.parse_args(argv)

    settings = load_settings()
    configure_logging("fasthook", settings.log_level, settings.log_format)
    try:
        if args.command == "run":
            asyncio.run(run_stack(settings, embedded_kafka_port=args.kafka_port))
        elif args.command == "topics":
            created = asyncio.run(ensure_topics(
                settings.kafka_bootstrap, settings.topics, replication=settings.topic_replication
            ))
            print("created:", ", ".join(created) or "nothing (all exist)")
        elif args.command == "sources":
            declared = json.loads(args.file.read_text())
            for source in asyncio.run(apply_sources(settings, declared, args.team)):
                print(f"{source['id']}  {settings.public_base_url}/{source['token']}")
    except RuntimeSetupError as exc:
        print(f"fasthook: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
