"""Attached sources: read-only databases and file folders registered by admins.

A source is stored in two rows: ``sources`` (type, non-secret options, description) and
``source_credentials`` (passwords and keys, sealed with the workspace key: see
:mod:`atelier.services.catalog.credentials`). Nothing this module returns, raises or logs holds
a secret: listings carry only the names of the secret fields that are set, and errors from a
connection attempt have every secret value replaced by ``***``.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from atelier.backends.metadata import Database, Dataset, Source, SourceCredential
from atelier.backends.warehouse import Attachment, ColumnInfo, SourceError, Warehouse
from atelier.backends.warehouse.errors import redact
from atelier.backends.warehouse.extensions import load_extensions
from atelier.config.sealing import Sealer, SealError
from atelier.errors import AtelierError, Conflict, InvalidInput, NotFound
from atelier.services.auth import AuditLog, Principal
from atelier.services.catalog import access
from atelier.services.catalog.credentials import seal, unseal
from atelier.services.catalog.kinds import SYSTEM_SCHEMAS, TYPES, build, clean

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: DuckDB's own databases and schemas, and the lake: a source by these names would shadow them.
RESERVED = frozenset(
    {"lake", "main", "memory", "system", "temp", "information_schema", "pg_catalog"}
)


@dataclass(frozen=True)
class SourceInfo:
    """A registered source as anyone may see it: no secret values, only which are set."""

    name: str
    type: str
    options: dict[str, Any]
    description: str
    created_by: str | None
    created_at: datetime
    secret_fields: tuple[str, ...]

    @property
    def has_password(self) -> bool:
        return bool(self.secret_fields)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "options": dict(self.options),
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "secret_fields": list(self.secret_fields),
            "has_password": self.has_password,
        }


@dataclass(frozen=True)
class SourceTable:
    """A table (or view) of a source, named ``source.schema.table`` in SQL."""

    source: str
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]

    @property
    def full_name(self) -> str:
        return f"{self.source}.{self.schema}.{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.full_name,
            "source": self.source,
            "schema": self.schema,
            "table": self.name,
            "columns": [c.__dict__ for c in self.columns],
        }


class Sources:
    """Register, list, test and remove sources; build the attachments that make them queryable."""

    def __init__(
        self, db: Database, warehouse: Warehouse, sealer: Sealer, audit: AuditLog | None = None
    ) -> None:
        self.db = db
        self.warehouse = warehouse
        self.sealer = sealer
        self.audit = audit or AuditLog(db)
        #: Called as ``on_add(name)`` once a source is stored (the PII classifier's hook).
        self.on_add: Callable[[str], object] | None = None

    # -- registry ------------------------------------------------------------------------

    def add(
        self,
        name: str,
        type: str,
        *,
        options: dict[str, Any],
        secrets: dict[str, Any],
        description: str = "",
        by: str | None = None,
        principal: Principal | None = None,
        client: str | None = None,
    ) -> SourceInfo:
        """Validate, connect and list the tables, then store the source; nothing is stored
        if any step fails. With ``principal`` (who acts: an admin, never a code token), the
        attempt is checked first and recorded in the audit log (``client``: the entry point),
        without its secrets."""
        if principal is None:
            info = self._add(name, type, options, secrets, description, by or "")
            self._added(info.name)
            return info
        access.check(principal, access.ADMINS, "add sources")
        try:
            info = self._add(name, type, options, secrets, description, principal.name)
        except AtelierError:
            # The error text is already redacted; the entry records only the attempt.
            failed = {"type": type}
            access.record(
                self.audit, "source.add", principal, name or None, client, failed, success=False
            )
            raise
        detail = {"type": info.type, "options": info.options}
        access.record(self.audit, "source.add", principal, info.name, client, detail)
        self._added(info.name)
        return info

    def _added(self, name: str) -> None:
        if self.on_add is None:
            return
        try:
            self.on_add(name)
        except Exception:  # the source is stored; a failing hook must not say otherwise
            log.exception("on_add hook failed after adding source %s", name)

    def _add(
        self,
        name: str,
        type: str,
        options: dict[str, Any],
        secrets: dict[str, Any],
        description: str,
        by: str,
    ) -> SourceInfo:
        name = self._check_name(name)
        options, hidden = clean(type, dict(options or {}), dict(secrets or {}))
        self._check_not_own_files(options)
        if name in self.names():
            raise Conflict(f"a source named {name!r} already exists: remove it first")
        self._probe(name, type, options, hidden)
        try:
            with self.db.session() as session:
                row = Source(
                    name=name,
                    type=type,
                    options=options,
                    description=description or "",
                    created_by=by,
                )
                session.add(row)
                session.flush()
                session.add(SourceCredential(source_id=row.id, **seal(self.sealer, hidden)))
        except IntegrityError:
            raise Conflict(f"a source named {name!r} already exists: remove it first") from None
        log.info("source %s (%s) added by %s", name, type, by)
        return self.get(name)

    def list(self) -> builtins.list[SourceInfo]:
        with self.db.session() as session:
            rows = session.execute(
                select(Source, SourceCredential)
                .outerjoin(SourceCredential, SourceCredential.source_id == Source.id)
                .order_by(Source.name)
            ).all()
            return [self._info(source, credential) for source, credential in rows]

    def get(self, name: str) -> SourceInfo:
        for info in self.list():
            if info.name == name:
                return info
        raise NotFound(f"no source named {name!r} (see `atelier sources list`)")

    def names(self) -> set[str]:
        with self.db.session() as session:
            return set(session.scalars(select(Source.name)))

    def remove(
        self, name: str, *, principal: Principal | None = None, client: str | None = None
    ) -> None:
        """Forget the source, its credentials, and the descriptions and tags of its tables.
        With ``principal`` (an admin), checked first and recorded in the audit log."""
        if principal is not None:
            access.check(principal, access.ADMINS, "remove sources")
        self._remove(name)
        if principal is not None:
            access.record(self.audit, "source.remove", principal, name, client)

    def _remove(self, name: str) -> None:
        with self.db.session() as session:
            row = session.scalars(select(Source).where(Source.name == name)).first()
            if row is None:
                raise NotFound(f"no source named {name!r} (see `atelier sources list`)")
            credential = session.get(SourceCredential, row.id)
            if credential is not None:
                session.delete(credential)
            for dataset in session.scalars(
                select(Dataset).where(Dataset.name.startswith(f"{name}.", autoescape=True))
            ):
                session.delete(dataset)
            from atelier.services.catalog.pii import forget

            forget(session, f"{name}.")
            session.delete(row)
        log.info("source %s removed", name)

    # -- attaching -----------------------------------------------------------------------

    def attachment(self, name: str) -> Attachment:
        """The read-only attachment of source ``name``."""
        kind, options, hidden = self._stored(name)
        return build(name, kind, options, hidden)

    def attachments(self) -> builtins.list[Attachment]:
        """Attachments of every source, for connections that run user SQL. A file source
        whose path has gone is left out (and logged), so it cannot break every query."""
        with self.db.session() as session:
            rows = session.execute(
                select(
                    Source.name,
                    Source.type,
                    Source.options,
                    SourceCredential.secrets,
                    SourceCredential.sealed,
                )
                .outerjoin(SourceCredential, SourceCredential.source_id == Source.id)
                .order_by(Source.name)
            ).all()
        result = []
        for name, kind, options, clear, sealed in rows:
            try:
                hidden = unseal(self.sealer, name, clear, sealed)
                result.append(build(name, kind, dict(options or {}), hidden))
            except (SourceError, SealError) as error:
                log.warning("source %s left out: %s", name, error)
        return result

    @contextmanager
    def connect(
        self, names: Iterable[str]
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, str]]]:
        """A trusted warehouse connection with the named sources attached, and the errors
        (secrets redacted) of those that could not be: one broken source spoils nothing else."""
        wanted = list(names)
        stored = {name: self._stored(name) for name in wanted}
        with self.warehouse.connect() as connection:
            errors: dict[str, str] = {}
            for name, (kind, options, hidden) in stored.items():
                failure = None
                try:
                    self._apply(connection, build(name, kind, options, hidden))
                except AtelierError as error:
                    failure = redact(str(error), hidden.values())
                if failure is not None:
                    errors[name] = failure
            yield connection, errors

    def tables(self, name: str) -> builtins.list[SourceTable]:
        """The tables and views of source ``name`` (server schemas left out)."""
        with self.connect([name]) as (connection, errors):
            if name in errors:
                raise SourceError(errors[name])
            return self.list_tables(connection, name)

    def test(self, name: str) -> builtins.list[SourceTable]:
        """Connect to a registered source and list its tables; raise what went wrong."""
        return self.tables(name)

    def list_tables(
        self, connection: duckdb.DuckDBPyConnection, name: str
    ) -> builtins.list[SourceTable]:
        """Tables of the source attached as ``name`` on ``connection``."""
        database = None
        with self.db.session() as session:
            row = session.scalars(select(Source).where(Source.name == name)).first()
            if row is not None and row.type == "mysql":
                database = (row.options or {}).get("database")
        return _tables(connection, name, only_schema=database)

    # -- helpers -------------------------------------------------------------------------

    def _check_name(self, name: str) -> str:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"source name {name!r} is not valid: use lower-case letters, digits and _, "
                "starting with a letter or _ (it becomes the database name in SQL)"
            )
        if name in RESERVED or name == self.warehouse.alias:
            raise InvalidInput(f"source name {name!r} is reserved: choose another")
        return name

    def _check_not_own_files(self, options: dict[str, Any]) -> None:
        """Atelier's own databases hold users, token digests and source credentials: attached
        as a source, they would be readable by every scientist."""
        path = options.get("path")
        if not path:
            return
        own = [self.warehouse.catalog.path]
        if self.db.engine.dialect.name == "sqlite" and self.db.engine.url.database:
            own.append(Path(self.db.engine.url.database))
        target = Path(path).resolve()
        for file in own:
            if file is not None and target == file.resolve():
                raise InvalidInput(
                    f"option path: {path} is Atelier's own metadata or catalog "
                    "database, which may not be attached as a source"
                )

    def _stored(self, name: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        with self.db.session() as session:
            row = session.execute(
                select(
                    Source.type, Source.options, SourceCredential.secrets, SourceCredential.sealed
                )
                .outerjoin(SourceCredential, SourceCredential.source_id == Source.id)
                .where(Source.name == name)
            ).first()
        if row is None:
            raise NotFound(f"no source named {name!r} (see `atelier sources list`)")
        return str(row[0]), dict(row[1] or {}), unseal(self.sealer, name, row[2], row[3])

    def _apply(self, connection: duckdb.DuckDBPyConnection, attachment: Attachment) -> None:
        load_extensions(connection, attachment.extensions, self.warehouse.extension_directory)
        attachment.apply(connection)

    def _probe(self, name: str, kind: str, options: dict[str, Any], hidden: dict[str, str]) -> None:
        import duckdb

        failure = None
        schemas: set[str] = set()
        try:
            source = build(name, kind, options, hidden)
            with self.warehouse.connect() as connection:
                schemas = {
                    str(row[0])
                    for row in connection.execute(
                        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?",
                        [self.warehouse.alias],
                    ).fetchall()
                }
                self._apply(connection, source)
                only = options.get("database") if kind == "mysql" else None
                _tables(connection, name, only_schema=only)
        except (AtelierError, duckdb.Error) as error:
            failure = redact(str(error), hidden.values())
        # Raised outside the handler: the unredacted error must not ride along as context.
        if failure is not None:
            raise SourceError(
                f"could not connect to the {kind} source {name!r}, so it was not added: {failure}"
            )
        if name in schemas:
            raise Conflict(
                f"the warehouse has a schema named {name!r}: a source by that name would make "
                f"{name}.… ambiguous in SQL; choose another name"
            )

    def _info(self, source: Source, credential: SourceCredential | None) -> SourceInfo:
        hidden: dict[str, str] = {}
        if credential is not None:
            try:
                hidden = unseal(self.sealer, source.name, credential.secrets, credential.sealed)
            except SealError as error:
                # A listing needs only the names of the fields: it goes on without them.
                log.warning("%s", error)
        return _info(source, hidden)


def _info(source: Source, hidden: dict[str, str]) -> SourceInfo:
    return SourceInfo(
        name=source.name,
        type=source.type,
        options=dict(source.options or {}),
        description=source.description or "",
        created_by=source.created_by,
        created_at=source.created_at,
        secret_fields=tuple(sorted(k for k, v in (hidden or {}).items() if v)),
    )


def _tables(
    connection: duckdb.DuckDBPyConnection, alias: str, *, only_schema: str | None = None
) -> builtins.list[SourceTable]:
    rows = connection.execute(
        """
        SELECT table_schema, table_name, column_name, data_type, is_nullable
        FROM information_schema.columns WHERE table_catalog = ?
        ORDER BY table_schema, table_name, ordinal_position
        """,
        [alias],
    ).fetchall()
    columns: dict[tuple[str, str], list[ColumnInfo]] = {}
    for schema, table, column, type_, nullable in rows:
        if schema in SYSTEM_SCHEMAS or (only_schema is not None and schema != only_schema):
            continue
        nullable_flag = str(nullable).upper() in ("YES", "TRUE", "1")
        columns.setdefault((schema, table), []).append(ColumnInfo(column, type_, nullable_flag))
    return [SourceTable(alias, s, t, tuple(cols)) for (s, t), cols in columns.items()]


__all__ = ["TYPES", "SourceInfo", "SourceTable", "Sources"]
