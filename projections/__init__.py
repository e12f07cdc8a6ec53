"""Projections: every topic into ClickHouse, and the query/retry API served from it."""
