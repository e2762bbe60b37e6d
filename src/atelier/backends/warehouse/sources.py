"""Read-only attached sources: a :class:`SourceSpec` becomes the SQL that attaches it.

* ``postgres`` / ``mysql``: credentials go into a temporary DuckDB secret and the database is
  attached ``READ_ONLY`` through it, so no password is in the ATTACH string, in
  ``duckdb_databases()`` or in an error message;
* ``sqlite``: the file, attached ``READ_ONLY``;
* ``parquet`` / ``csv``: an in-memory database ``<alias>`` with one view per file (named after
  the file) or per sub-folder (all its files, hive partitions read), readable through the
  restricted connection's allowed paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from atelier.backends.warehouse.errors import SourceError, redact
from atelier.backends.warehouse.sql import ident, literal, qualified

if TYPE_CHECKING:
    import duckdb

SourceType = Literal["postgres", "mysql", "sqlite", "parquet", "csv"]

_EXTENSION = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
_READERS = {"parquet": "read_parquet", "csv": "read_csv"}


@dataclass(frozen=True)
class SourceSpec:
    """Where a source lives. ``path`` is the SQLite file or the Parquet/CSV file or folder."""

    type: SourceType
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    path: str | None = None


@dataclass(frozen=True)
class Attachment:
    """SQL run on a connection before it is restricted, and what it needs afterwards."""

    alias: str
    statements: tuple[str, ...] = field(repr=False)
    extensions: tuple[str, ...] = ()
    allowed_directories: tuple[str, ...] = ()
    allowed_paths: tuple[str, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def apply(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Run the statements; a failure names the source, never its credentials."""
        import duckdb

        for statement in self.statements:
            failure = None
            try:
                connection.execute(statement)
            except duckdb.Error as error:
                failure = redact(str(error), self.secrets)
            # Raised outside the handler so the original error is not even its __context__.
            if failure is not None:
                raise SourceError(f"could not attach source {self.alias!r}: {failure}")


def attachment(alias: str, spec: SourceSpec) -> Attachment:
    """The read-only :class:`Attachment` for ``spec`` under database name ``alias``."""
    if spec.type in ("postgres", "mysql"):
        return _server(alias, spec)
    path = Path(spec.path or "").expanduser()
    if not spec.path or not path.exists():
        raise SourceError(f"source {alias!r}: {spec.type} path {spec.path!r} does not exist")
    path = path.resolve()
    if spec.type == "sqlite":
        statement = f"ATTACH {literal(str(path))} AS {ident(alias)} (TYPE sqlite, READ_ONLY)"
        return Attachment(alias, (statement,), extensions=("sqlite",))
    if spec.type in _READERS:
        return _files(alias, spec.type, path)
    raise SourceError(f"source {alias!r}: unknown source type {spec.type!r}")


def _server(alias: str, spec: SourceSpec) -> Attachment:
    secret = f"atelier_source_{alias}"
    fields = {
        "HOST": spec.host,
        "PORT": str(spec.port) if spec.port else None,
        "DATABASE": spec.database,
        "USER": spec.user,
        "PASSWORD": spec.password,
    }
    body = ", ".join(
        f"{key} {literal(value)}" for key, value in fields.items() if value is not None
    )
    return Attachment(
        alias,
        (
            f"CREATE OR REPLACE TEMPORARY SECRET {ident(secret)} (TYPE {spec.type}, {body})",
            f"ATTACH '' AS {ident(alias)} (TYPE {spec.type}, SECRET {ident(secret)}, READ_ONLY)",
        ),
        extensions=(_EXTENSION[spec.type],),
        secrets=(spec.password,) if spec.password else (),
    )


def _files(alias: str, kind: str, path: Path) -> Attachment:
    reader = _READERS[kind]
    views: list[tuple[str, str]] = []
    if path.is_file():
        views.append((path.stem, f"{reader}({literal(str(path))})"))
    else:
        for child in sorted(path.iterdir()):
            if child.is_file() and child.suffix == f".{kind}":
                views.append((child.stem, f"{reader}({literal(str(child))})"))
            elif child.is_dir() and not child.name.startswith("."):
                pattern = literal(f"{child}/**/*.{kind}")
                views.append((child.name, f"{reader}({pattern}, hive_partitioning = true)"))
    statements = [f"ATTACH ':memory:' AS {ident(alias)}"]
    statements += [
        f"CREATE VIEW {qualified(alias, 'main', name)} AS SELECT * FROM {scan}"
        for name, scan in views
    ]
    if path.is_file():
        return Attachment(alias, tuple(statements), allowed_paths=(str(path),))
    return Attachment(alias, tuple(statements), allowed_directories=(f"{path}/",))
