"""The analysts' read-only ClickHouse HTTP endpoint, served by the engine's owner."""
