"""Uploads: a file or DataFrame becomes a new version of a warehouse table, or nothing at all.

An upload runs in two steps:

1. **Stage.** DuckDB reads the source and writes it as one Parquet file into a folder of its
   own under the lake's data path (``<schema>/<table>/upload-<id>/``). Reading streams and
   spills to disk, so a file larger than memory loads with flat memory; every reading error
   (bad value, ragged row, bad encoding) surfaces here, before the lake is touched.
2. **Commit.** One :meth:`Warehouse.run_write` transaction creates, replaces or keeps the
   table and registers the staged file with ``ducklake_add_data_files``: one DuckLake
   snapshot, with the uploader as author. It only touches metadata, so a retry after a lost
   race is cheap.

If either step fails the staged folder is removed and the catalog is as it was: no table
(``create``), or the previous version intact (``replace``, ``append``).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.backends.warehouse.sql import ident, literal, qualified
from atelier.errors import AtelierError, Conflict, InvalidInput, NotFound
from atelier.services.auth import AuditLog, Principal
from atelier.services.catalog import access
from atelier.services.ingest.errors import Place, explain
from atelier.services.ingest.inbox import Inbox
from atelier.services.ingest.options import Mode, Options, TableName, parse_mode
from atelier.services.ingest.results import Column, Preview, Progress, UploadResult
from atelier.services.ingest.schemas import SchemaChoice, check_write, choices
from atelier.services.ingest.sources import (
    Source,
    check_rejects,
    dataframe_to_arrow,
    from_arrow,
    from_file,
)
from atelier.services.storage import Files

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb

    from atelier.backends.metadata import Database
    from atelier.backends.warehouse import Warehouse

#: How an upload's data file is written: Parquet's version 2 encodings write faster and, for
#: most columns, into smaller files that scan faster (the trade-offs in docs/uploads.md).
STAGED_FORMAT = "FORMAT parquet, PARQUET_VERSION V2"

log = logging.getLogger(__name__)

PREVIEW_ROWS = 20


class Ingest:
    """Uploads into the warehouse of one workspace; work files live under ``uploads_dir``."""

    def __init__(
        self, db: Database, warehouse: Warehouse, uploads_dir: Path, files: Files | None = None
    ) -> None:
        self.db = db
        self.warehouse = warehouse
        self.uploads_dir = Path(uploads_dir)
        #: ``files``: where kept files persist besides ``incoming/`` (the bucket's ``uploads/``).
        self.inbox = Inbox(self.uploads_dir / "incoming", files=files)
        self.audit = AuditLog(db)
        #: Called as ``on_write(table, user)`` after each committed upload (the catalog's hook).
        self.on_write: Callable[[str, str], None] | None = None
        #: Called as ``on_columns(table, columns, rewritten)`` after each committed upload
        #: with the table's columns, ``rewritten`` when the upload created or replaced the
        #: table (the PII classifier's hook: it tags those it has not seen yet, or all anew).
        self.on_columns: Callable[[str, list[str], bool], object] | None = None
        #: DuckDB memory limit for reading (e.g. "2GB"); None: DuckDB's default (80% of RAM).
        self.memory_limit: str | None = None
        #: DuckDB threads for reading; None: one per core.
        self.threads: int | None = None

    # -- detection -----------------------------------------------------------------------

    def detect(
        self,
        path: Path,
        *,
        options: Mapping[str, Any] | Options | None = None,
        filename: str | None = None,
    ) -> Preview:
        """How ``path`` would be read: format, options, columns with types, first rows."""
        opts = Options.parse(options)
        path = Path(path)
        label = filename or path.name
        with self._workdir() as workdir, self.warehouse.connect() as connection:
            self._configure(connection)
            source = from_file(connection, path, opts, workdir, label, preview=True)
            relation = source.relation(opts.types)
            columns = self._describe(connection, f"SELECT * FROM {relation}", source)
            rows = _run(
                connection,
                f"SELECT COLUMNS(*)::VARCHAR FROM {relation} LIMIT {PREVIEW_ROWS}",
                source,
            ).fetchall()
        detected = {"format": source.format, **source.detected}
        if opts.types:
            detected["types"] = dict(opts.types)
        return Preview(
            file=label,
            format=source.format,
            options=detected,
            columns=columns,
            rows=[list(row) for row in rows],
            size=path.stat().st_size,
        )

    # -- upload --------------------------------------------------------------------------

    def schemas(self, principal: Principal) -> list[SchemaChoice]:
        """The schemas offered to ``principal`` at upload (see :mod:`.schemas`)."""
        return choices(self.db, principal)

    def check_target(self, principal: Principal, name: str, schema: str | None = None) -> None:
        """Refuse ``principal`` an upload into table ``name`` (in ``schema``) before any byte
        of it is received: the role, the token's scope, and the schema's rule."""
        access.check(principal, access.BUILDERS, "upload data", ("data",))
        check_write(self.db, principal, TableName.parse(name, schema=schema or None).schema)

    def upload(
        self,
        source: Any,
        name: str,
        *,
        mode: str = "create",
        options: Mapping[str, Any] | Options | None = None,
        by: str | None = None,
        filename: str | None = None,
        progress: Progress | None = None,
        principal: Principal | None = None,
        client: str | None = None,
        schema: str | None = None,
    ) -> UploadResult:
        """Load ``source`` (a file path, or a pandas/polars DataFrame or Arrow data) into table
        ``name`` (``table`` or ``schema.table``; ``schema`` chooses the schema of a bare
        ``table``) as one new version.

        ``mode``: ``create`` refuses an existing table, ``replace`` swaps the contents (and the
        columns) of an existing one or creates it, ``append`` adds rows to an existing table
        whose columns the source must have. Options: see :class:`Options`.

        With ``principal`` (who acts: a scientist or an admin, or a code token with the
        ``data`` scope), checked before anything is read and recorded in the audit log
        (``table.upload``; ``client``: the entry point), failures included. The schema must
        be one ``principal`` may write (:func:`~atelier.services.ingest.schemas.check_write`).
        """
        if schema:  # else the name stays as given (the audit of a failure names it so)
            name = str(TableName.parse(name, schema=schema))
        if principal is None:
            return self._upload(source, name, mode, options, by or "", filename, progress)
        self.check_target(principal, name)
        label = filename or (Path(source).name if isinstance(source, str | Path) else "DataFrame")
        try:
            result = self._upload(source, name, mode, options, principal.name, filename, progress)
        except AtelierError:
            failed = {"file": label, "mode": mode}
            access.record(
                self.audit, "table.upload", principal, name, client, failed, success=False
            )
            raise
        detail = {"file": label, "mode": result.mode, "version": result.version}
        detail["rows"] = result.rows
        access.record(self.audit, "table.upload", principal, result.table, client, detail)
        return result

    def _upload(
        self,
        source: Any,
        name: str,
        mode: str,
        options: Mapping[str, Any] | Options | None,
        by: str,
        filename: str | None,
        progress: Progress | None,
    ) -> UploadResult:
        table = TableName.parse(name)
        how = parse_mode(mode)
        opts = Options.parse(options)
        report = progress or _no_progress
        is_path = isinstance(source, str | Path)
        label = filename or (Path(source).name if is_path else "DataFrame")
        upload_id = uuid.uuid4().hex
        staged: str | None = None
        committed = False
        try:
            report("preparing", None)
            with self._workdir() as workdir, self.warehouse.connect() as connection:
                self._configure(connection)
                if is_path:
                    src = from_file(connection, Path(source), opts, workdir, label)
                else:
                    arrow = dataframe_to_arrow(source)
                    src = from_arrow(connection, lambda: arrow, Place(label))
                existing = self._columns(connection, table)
                _check_mode(how, existing, table)
                select, relation = _selection(src, opts, existing if how == "append" else None)
                columns = self._describe(connection, f"SELECT {select} FROM {relation}", src)
                self._check_width(columns, src)
                staged = self.warehouse.staging_location(
                    table.schema, table.table, f"upload-{upload_id}"
                )
                target = f"{staged}/data.parquet"
                report("reading", 0.0)
                rows = self._stage(connection, select, relation, target, src, report)
                skipped = check_rejects(connection, src)
                report("committing", None)
                # On the same lake session: each one opened costs tens of milliseconds.
                self.warehouse.run_write(
                    lambda c: self._commit(c, table, how, target, rows, existing),
                    author=by,
                    message=f"upload {label}"[:500],
                    extra_info=json.dumps({"upload": upload_id}),
                    connection=connection,
                )
                committed = True
                version, number = self._landed(upload_id, table, connection)
        finally:
            if not committed and staged is not None:
                self.warehouse.discard_staged(staged)
        if self.on_write is not None:
            try:
                self.on_write(str(table), by)
            except Exception:  # the data is committed; a failing hook must not say otherwise
                log.exception("on_write hook failed after uploading %s", table)
        if self.on_columns is not None:
            try:
                self.on_columns(str(table), [c.name for c in columns], how != "append")
            except Exception:  # classification never fails an upload
                log.exception("on_columns hook failed after uploading %s", table)
        return UploadResult(str(table), version, rows, how, columns, skipped, number)

    # -- steps ---------------------------------------------------------------------------

    def _stage(
        self,
        connection: duckdb.DuckDBPyConnection,
        select: str,
        relation: str,
        target: str,
        source: Source,
        report: Progress,
    ) -> int:
        source.attach(connection)
        sql = f"COPY (SELECT {select} FROM {relation}) TO {literal(target)} ({STAGED_FORMAT})"
        with _polling(connection, report):
            row = _run(connection, sql, source).fetchone()
        return int(row[0]) if row else 0

    def _commit(
        self,
        connection: duckdb.DuckDBPyConnection,
        table: TableName,
        mode: Mode,
        staged: str,
        rows: int,
        expected: list[Column] | None,
    ) -> None:
        alias = self.warehouse.alias
        current = self._columns(connection, table)
        # Checked again inside the transaction: another writer may have won the race.
        _check_mode(mode, current, table)
        if mode == "append" and current != expected:
            raise Conflict(f"table {table} changed its columns during the upload: try again")
        name = qualified(alias, table.schema, table.table)
        file = literal(staged)
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified(alias, table.schema)}")
        new = self._describe_sql(connection, f"SELECT * FROM read_parquet({file})")
        if mode == "replace" and current == new:
            # Same columns: keep the table, so its version history continues.
            connection.execute(f"DELETE FROM {name}")
        elif mode != "append":
            replace = "OR REPLACE " if mode == "replace" else ""
            connection.execute(
                f"CREATE {replace}TABLE {name} AS SELECT * FROM read_parquet({file}) LIMIT 0"
            )
        if rows:
            connection.execute(
                f"CALL ducklake_add_data_files({literal(alias)}, {literal(table.table)}, "
                f"{file}, schema => {literal(table.schema)})"
            )

    def _landed(
        self, upload_id: str, table: TableName, connection: duckdb.DuckDBPyConnection
    ) -> tuple[int, int | None]:
        """The snapshot the upload made (an empty append made none: the table's latest) and
        the table's own version number of it (1 for a new table), from one read of the
        table's versions."""
        info = json.dumps({"upload": upload_id})
        try:
            found = self.warehouse.snapshots(
                table.table, schema=table.schema, with_counts=False, connection=connection
            )
        except AtelierError:
            found = []
        if not found:  # dropped meanwhile: the snapshot id is all there is
            return self._snapshot_of(info, connection), None
        made = [s.snapshot_id for s in found if s.extra_info == info]
        version = made[-1] if made else found[-1].snapshot_id
        return version, sum(1 for s in found if s.snapshot_id <= version) or None

    def _snapshot_of(self, info: str, connection: duckdb.DuckDBPyConnection) -> int:
        row = connection.execute(
            f"SELECT max(snapshot_id) FROM ducklake_snapshots({literal(self.warehouse.alias)}) "
            f"WHERE commit_extra_info = {literal(info)}"
        ).fetchone()
        if row is None or row[0] is None:
            raise NotFound("the uploaded table was dropped before its version could be read")
        return int(row[0])

    def _check_width(self, columns: list[Column], source: Source) -> None:
        limit = self.warehouse.catalog.max_columns
        if len(columns) > limit:
            raise InvalidInput(
                f"{source.place.label}: {len(columns):,} columns, more than the {limit:,} a "
                f"table can have in this warehouse ({self.warehouse.catalog.kind} catalog): "
                "upload fewer columns, or split the file into several tables"
            )

    def _columns(
        self, connection: duckdb.DuckDBPyConnection, table: TableName
    ) -> list[Column] | None:
        # Literals, not parameters: DuckDB's first bound parameter in a process imports pandas
        # (seconds, and its memory, for an upload from a file).
        rows = connection.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
            f"{literal(self.warehouse.alias)} AND lower(schema_name) = "
            f"lower({literal(table.schema)}) AND lower(table_name) = lower({literal(table.table)}) "
            "ORDER BY column_index"
        ).fetchall()
        return [Column(str(n), str(t)) for n, t in rows] or None

    def _describe(
        self, connection: duckdb.DuckDBPyConnection, sql: str, source: Source
    ) -> list[Column]:
        import duckdb

        source.attach(connection)
        try:
            return self._describe_sql(connection, sql)
        except duckdb.Error as error:
            raise explain(error, source.place, source.columns) from None

    @staticmethod
    def _describe_sql(connection: duckdb.DuckDBPyConnection, sql: str) -> list[Column]:
        rows = connection.execute(f"DESCRIBE {sql}").fetchall()
        return [Column(str(r[0]), str(r[1])) for r in rows]

    def _configure(self, connection: duckdb.DuckDBPyConnection) -> None:
        spill = self.uploads_dir / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        # DuckDB's default for an in-memory database is ".tmp" in the working directory.
        connection.execute(f"SET temp_directory = {literal(str(spill))}")
        if self.memory_limit:
            connection.execute(f"SET memory_limit = {literal(self.memory_limit)}")
        if self.threads:
            connection.execute(f"SET threads = {int(self.threads)}")
        # Progress is read with query_progress(); nothing is printed.
        connection.execute("SET enable_progress_bar = true")
        connection.execute("SET enable_progress_bar_print = false")

    @contextmanager
    def _workdir(self) -> Iterator[Path]:
        folder = self.uploads_dir / "work" / uuid.uuid4().hex
        folder.mkdir(parents=True, mode=0o700)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _check_mode(mode: Mode, existing: list[Column] | None, table: TableName) -> None:
    if mode == "create" and existing is not None:
        raise Conflict(
            f"table {table} already exists: upload with mode replace or append, "
            "or choose another name"
        )
    if mode == "append" and existing is None:
        raise NotFound(f"no table {table} to append to: upload with mode create first")


def _selection(source: Source, options: Options, table: list[Column] | None) -> tuple[str, str]:
    """``(select list, relation)``: all columns as read, or, to append, the table's columns in
    its order and types, each matched by name (ignoring case) to a source column."""
    if table is None:
        return "*", source.relation(options.types)
    by_name = {c.lower(): c for c in source.columns}
    wanted = {c.name.lower() for c in table}
    extra = [c for c in source.columns if c.lower() not in wanted]
    if extra:
        raise InvalidInput(
            f"{source.place.label}: column {extra[0]!r} is not in the table (its columns: "
            f"{', '.join(c.name for c in table)}); remove it, or upload with mode replace"
        )
    missing = [c.name for c in table if c.name.lower() not in by_name]
    if missing:
        raise InvalidInput(
            f"{source.place.label}: column {missing[0]!r} of the table is missing from the "
            "file; add it, or upload with mode replace"
        )
    # Read each column as the table's type where the reader can (CSV reports the line of a
    # bad value then); the user's own overrides still win.
    types = {by_name[c.name.lower()]: c.type for c in table if _scalar(c.type)}
    if source.format not in ("csv", "tsv", "xlsx"):
        types = {}
    relation = source.relation({**types, **options.types})
    select = ", ".join(
        f"CAST({ident(by_name[c.name.lower()])} AS {c.type}) AS {ident(c.name)}" for c in table
    )
    return select, relation


def _scalar(type_: str) -> bool:
    return not any(mark in type_ for mark in ("[", "STRUCT", "MAP", "UNION"))


def _run(
    connection: duckdb.DuckDBPyConnection, sql: str, source: Source
) -> duckdb.DuckDBPyConnection:
    import duckdb

    try:
        return connection.execute(sql)
    except duckdb.Error as error:
        raise explain(error, source.place, source.columns) from None


@contextmanager
def _polling(connection: duckdb.DuckDBPyConnection, report: Progress) -> Iterator[None]:
    """Report DuckDB's progress on the running statement every 0.2 s from a side thread."""
    if report is _no_progress:
        yield
        return
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.2):
            try:
                value = float(connection.query_progress())
            except Exception:  # the statement ended between two looks
                return
            if value >= 0:
                report("reading", min(value, 100.0))

    thread = threading.Thread(target=poll, name="upload-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    report("reading", 100.0)


def _no_progress(stage: str, percent: float | None) -> None:
    """The default: nobody is watching."""
