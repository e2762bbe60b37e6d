"""MySQL and MariaDB: attached ``READ_ONLY`` by DuckDB's ``mysql`` extension."""

from __future__ import annotations

from atelier.services.catalog.kinds.base import ServerKind


class MysqlKind(ServerKind):
    name = "mysql"
    required = ("host",)
    optional = ("port", "database", "user")
    secrets = ("password",)
    default_port = 3306
