"""PostgreSQL: attached ``READ_ONLY`` by DuckDB's ``postgres`` extension."""

from __future__ import annotations

from atelier.services.catalog.kinds.base import ServerKind


class PostgresKind(ServerKind):
    name = "postgres"
    required = ("host", "database")
    optional = ("port", "user")
    secrets = ("password",)
    default_port = 5432
