"""The catalog: every warehouse table and every table of an attached source, with what Atelier
knows about it (owner, description, tags) beside what DuckDB knows (columns, rows, size,
versions, a sample).

Warehouse tables are named ``schema.table``, source tables ``source.schema.table``. Owners,
descriptions and tags live in the metadata table ``datasets``; a table's owner is whoever wrote
it first (the ingest service calls :meth:`Catalog.register_write`), else the author of its first
DuckLake snapshot, else the source's creator.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from atelier.backends.metadata import Database, Dataset
from atelier.backends.warehouse import ColumnInfo, SourceError, TableInfo, Warehouse
from atelier.backends.warehouse.history import table_snapshots
from atelier.backends.warehouse.sql import ident
from atelier.backends.warehouse.tables import list_tables, table_columns
from atelier.errors import AtelierError, InvalidInput, NotFound
from atelier.services.auth import Principal
from atelier.services.catalog import access
from atelier.services.catalog.names import TableRef, parse_table_name
from atelier.services.catalog.sources import SourceInfo, Sources, SourceTable
from atelier.services.catalog.values import json_safe
from atelier.services.pii.audit import RawReadAudit
from atelier.services.pii.enforce import masked_read

if TYPE_CHECKING:
    import duckdb

    from atelier.backends.warehouse.masking import Masking
    from atelier.services.catalog.pii import TablePii

SAMPLE_ROWS = 20


class MaskingPlans(Protocol):
    """What the catalog and the profiler need of :class:`atelier.services.pii.enforce.SqlMasking`:
    the masking plan of a person's reads."""

    def plan(self, principal: Principal | None, *, remote: bool = True) -> Masking: ...


MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_DESCRIPTION = 10_000


@dataclass(frozen=True)
class TableEntry:
    """One line of the catalog. ``rows`` and ``size_bytes`` are None where unknown (source
    tables are not counted in listings: that would scan remote tables). An entry with
    ``error`` set stands for a source that could not be reached. Entries of other kinds (a
    feature view) name the tables they read (``upstream``), how fresh they are and their
    page (``link``)."""

    name: str
    kind: Literal["table", "source", "feature view"]
    rows: int | None
    size_bytes: int | None
    owner: str | None
    description: str
    tags: tuple[str, ...]
    columns: tuple[ColumnInfo, ...]
    source: str | None = None
    error: str | None = None
    upstream: tuple[str, ...] = ()
    freshness: dict[str, str | None] | None = None
    link: str | None = None

    def matches(self, words: list[str]) -> bool:
        haystack = " ".join(
            [self.name, self.description, *self.tags, *self.upstream]
            + [c.name for c in self.columns]
        ).lower()
        return all(word in haystack for word in words)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "size_bytes": self.size_bytes,
            "owner": self.owner,
            "description": self.description,
            "tags": list(self.tags),
            "columns": [c.__dict__ for c in self.columns],
            "source": self.source,
            "error": self.error,
            "upstream": list(self.upstream),
            "freshness": self.freshness,
            "link": self.link,
        }


@dataclass(frozen=True)
class Version:
    """One DuckLake snapshot that created or changed a table.

    Two numbers, on purpose: ``number`` counts this table's own versions (1 is its creation,
    2 its first change, ...), which is what people read and compare; ``version`` is the
    lake-wide snapshot id, shared by every table of the lake, which time travel takes
    (``AT (VERSION => id)``, ``profile?version=id``) and the API has always returned.
    """

    version: int
    time: datetime
    author: str | None
    message: str | None
    rows_inserted: int
    rows_deleted: int
    rows_updated: int
    #: This table's own version number: 1, 2, 3, ...
    number: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "time": self.time.isoformat()}


@dataclass(frozen=True)
class TableDetail:
    """Everything the table page shows."""

    entry: TableEntry
    versions: tuple[Version, ...] = ()
    sample_columns: tuple[str, ...] = ()
    sample_rows: tuple[tuple[Any, ...], ...] = field(default=())
    #: The columns' personal-data tags (kind, confidence, suggested or confirmed, by whom).
    pii: TablePii | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.entry.as_dict(),
            "versions": [v.as_dict() for v in self.versions],
            "sample": {
                "columns": list(self.sample_columns),
                "rows": [list(row) for row in self.sample_rows],
            },
            "pii": self.pii.as_dict() if self.pii is not None else None,
        }


class Catalog:
    """List, search, describe and annotate tables."""

    def __init__(self, db: Database, warehouse: Warehouse, sources: Sources) -> None:
        self.db = db
        self.warehouse = warehouse
        self.sources = sources
        #: More entries for listings, after the tables (the feature store's views).
        self.listers: builtins.list[Callable[[], Iterable[TableEntry]]] = []
        #: The masking of personal data: a table's sample rows are read through the plan of
        #: who asks (see :meth:`describe`).
        self.masking: MaskingPlans | None = None

    @property
    def _meta(self) -> str:
        return self.warehouse.catalog.metadata_tables(self.warehouse.alias)

    def resolve(self, name: str) -> TableRef:
        """Parse a user's table name (see :mod:`.names`)."""
        known = self.sources.names()
        return parse_table_name(name, known.__contains__)

    # -- reading -------------------------------------------------------------------------

    def list(self, search: str | None = None) -> builtins.list[TableEntry]:
        """Warehouse tables, then source tables, then other entries (:attr:`listers`), keeping
        those whose name, description, tags, columns or upstream tables contain every word of
        ``search``."""
        sources = self.sources.list()
        datasets = self._datasets()

        def lake_entries(connection: duckdb.DuckDBPyConnection) -> builtins.list[TableEntry]:
            authors = _first_authors(connection, self.warehouse.alias, self._meta)
            entries = []
            for info in list_tables(connection, self.warehouse.alias, self._meta):
                name = f"{info.schema}.{info.name}"
                entries.append(
                    _entry(
                        name,
                        "table",
                        datasets.get(name),
                        default_owner=authors.get(name),
                        rows=info.row_count,
                        size=info.size_bytes,
                        columns=info.columns,
                    )
                )
            return entries

        # The lake on a kept session; the sources, when there are some, on one of their own.
        entries = self.warehouse.inspect(lake_entries)
        if sources:
            entries.extend(self._source_entries(sources, datasets))
        for lister in self.listers:
            entries.extend(lister())
        words = (search or "").lower().split()
        return [entry for entry in entries if entry.matches(words)]

    def _source_entries(
        self, sources: builtins.list[SourceInfo], datasets: dict[str, Dataset]
    ) -> builtins.list[TableEntry]:
        """The tables of the attached sources (a source that cannot be reached: its error)."""
        entries: builtins.list[TableEntry] = []
        with self.sources.connect([s.name for s in sources]) as (connection, errors):
            for source in sources:
                if source.name in errors:
                    entries.append(
                        TableEntry(
                            name=source.name,
                            kind="source",
                            rows=None,
                            size_bytes=None,
                            owner=source.created_by,
                            description=source.description,
                            tags=(),
                            columns=(),
                            source=source.name,
                            error=errors[source.name],
                        )
                    )
                    continue
                for table in self.sources.list_tables(connection, source.name):
                    entries.append(
                        _entry(
                            table.full_name,
                            "source",
                            datasets.get(table.full_name),
                            default_owner=source.created_by,
                            columns=table.columns,
                            source=source.name,
                        )
                    )
        return entries

    def describe(
        self, name: str, *, principal: Principal | None = None, remote: bool = True
    ) -> TableDetail:
        """Columns, rows, size, owner, description, tags, versions, the first rows and the
        columns' PII tags. The first rows are read as ``principal``'s SQL reads them: personal
        data masked unless a grant lets them see it raw (an export grant too when ``remote``);
        without a principal every tagged column is masked."""
        plan = self.masking.plan(principal, remote=remote) if self.masking else None
        detail = self._describe(name, plan)
        RawReadAudit(self.db, self.sources.audit).record(
            plan, principal, read="sample", rows=len(detail.sample_rows), remote=remote
        )
        return replace(detail, pii=self.pii_tags(detail.entry.name))

    def pii_tags(self, name: str) -> TablePii:
        """The stored PII tags of table ``name`` (resolved), unchecked: for other services."""
        from atelier.services.catalog.pii import PiiTags

        return PiiTags(self.db, self, self.sources.audit).stored(name)

    def columns(self, ref: TableRef) -> tuple[ColumnInfo, ...]:
        """The columns of a table (NotFound when there is no such table)."""
        if ref.source is None:
            return self.warehouse.inspect(lambda connection: self._lake_columns(connection, ref))
        self.sources.get(ref.source)
        return _find(self.sources.tables(ref.source), ref).columns

    def owner(self, ref: TableRef) -> str | None:
        """Who owns the table: the recorded owner, else its first author (or the source's
        creator)."""
        dataset = self._datasets(ref.name).get(ref.name)
        if dataset is not None and dataset.owner:
            return dataset.owner
        return self._check_exists(ref)

    def _describe(self, name: str, plan: Masking | None = None) -> TableDetail:
        ref = self.resolve(name)
        dataset = self._datasets(ref.name).get(ref.name)
        if ref.source is None:
            with self.warehouse.connect() as connection:
                info = self._lake_table(connection, ref)
                snapshots = table_snapshots(
                    connection, self.warehouse.alias, self._meta, ref.schema, ref.table
                )
                columns, rows = _sample(
                    connection, ref.sql(self.warehouse.alias), info.columns, ref.name, plan
                )
            versions = tuple(_version(s, i) for i, s in enumerate(snapshots, 1))
            entry = _entry(
                ref.name,
                "table",
                dataset,
                default_owner=versions[0].author if versions else None,
                rows=info.row_count,
                size=info.size_bytes,
                columns=info.columns,
            )
            return TableDetail(entry, versions, columns, rows)
        source = self.sources.get(ref.source)
        with self.sources.connect([ref.source]) as (connection, errors):
            if errors:
                raise SourceError(errors[ref.source])
            table = _find(self.sources.list_tables(connection, ref.source), ref)
            sql = ref.sql(self.warehouse.alias)
            count = connection.execute(f"SELECT count(*) FROM {sql}").fetchone()
            columns, rows = _sample(connection, sql, table.columns, ref.name, plan)
        entry = _entry(
            ref.name,
            "source",
            dataset,
            default_owner=source.created_by,
            rows=int(count[0]) if count else None,
            columns=table.columns,
            source=ref.source,
        )
        return TableDetail(entry, (), columns, rows)

    def versions(self, name: str) -> builtins.list[Version]:
        """The versions of a warehouse table, oldest first; none for source tables."""
        ref = self.resolve(name)
        if ref.source is not None:
            self._check_exists(ref)
            return []
        snapshots = self.warehouse.snapshots(ref.table, schema=ref.schema)
        return [_version(s, i) for i, s in enumerate(snapshots, 1)]

    def version_at(self, name: str, snapshot: int) -> Version | None:
        """The version of warehouse table ``name`` that lake snapshot ``snapshot`` saw (what a
        read at that snapshot returned); None when the table did not exist then, or is gone.

        Runs and training sets record the lake's snapshot id when they read; pages show the
        table's own number for it, the same one the table's page lists."""
        try:
            ref = self.resolve(name)
            if ref.source is not None:
                return None
            found = self.warehouse.snapshots(ref.table, schema=ref.schema, with_counts=False)
        except AtelierError:
            return None
        seen = [_version(s, i) for i, s in enumerate(found, 1) if s.snapshot_id <= snapshot]
        return seen[-1] if seen else None

    # -- writing -------------------------------------------------------------------------

    def update(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
        by: str | None = None,
        principal: Principal | None = None,
        client: str | None = None,
    ) -> TableEntry:
        """Set a table's description and/or tags; the first annotation also records its owner
        (the table's first author, else ``by``). With ``principal`` (who acts: a scientist or
        an admin, or a code token with the ``data`` scope), checked first and recorded in the
        audit log (``client``: the entry point)."""
        if principal is not None:
            access.check(principal, access.BUILDERS, "annotate tables", ("data",))
            by = principal.name
        entry = self._update(name, description, tags, by or "")
        if principal is not None:
            given = {"description": description, "tags": tags}
            detail = {"changed": sorted(k for k, v in given.items() if v is not None)}
            access.record(self.sources.audit, "table.update", principal, entry.name, client, detail)
        return entry

    def _update(
        self,
        name: str,
        description: str | None,
        tags: builtins.list[str] | None,
        by: str,
    ) -> TableEntry:
        ref = self.resolve(name)
        clean_tags = _clean_tags(tags) if tags is not None else None
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters")
        owner = self._check_exists(ref) or by

        def change(row: Dataset) -> None:
            if description is not None:
                row.description = description.strip()
            if clean_tags is not None:
                row.tags = clean_tags
            if not row.owner:
                row.owner = owner

        self._upsert(ref.name, change)
        return self._entry_after_update(ref)

    def register_write(self, name: str, by: str) -> None:
        """Called after each write to a warehouse table: the first writer becomes its owner."""
        ref = self.resolve(name)

        def change(row: Dataset) -> None:
            if not row.owner:
                row.owner = by

        self._upsert(ref.name, change)

    # -- helpers -------------------------------------------------------------------------

    def _datasets(self, name: str | None = None) -> dict[str, Dataset]:
        with self.db.session() as session:
            query = select(Dataset)
            if name is not None:
                query = query.where(Dataset.name == name)
            return {row.name: row for row in session.scalars(query)}

    def _upsert(self, name: str, change: Any) -> None:
        for _ in range(3):
            try:
                with self.db.session() as session:
                    row = session.scalars(select(Dataset).where(Dataset.name == name)).first()
                    if row is None:
                        row = Dataset(name=name, description="", tags=[])
                        session.add(row)
                    change(row)
                return
            except IntegrityError:
                # Another writer created the row first: update theirs.
                continue
        raise InvalidInput(f"could not record metadata for {name}: concurrent changes, retry")

    def _lake_table(self, connection: Any, ref: TableRef) -> TableInfo:
        infos = list_tables(
            connection, self.warehouse.alias, self._meta, schema=ref.schema, table=ref.table
        )
        if not infos:
            raise _missing(ref)
        return infos[0]

    def _lake_columns(self, connection: Any, ref: TableRef) -> tuple[ColumnInfo, ...]:
        """The columns of a lake table (without its row count and file statistics)."""
        columns = table_columns(connection, self.warehouse.alias, ref.schema, ref.table)
        if not columns:
            raise _missing(ref)
        return columns

    def _check_exists(self, ref: TableRef) -> str | None:
        """Raise NotFound unless the table exists; return its default owner."""
        if ref.source is None:

            def owner(connection: duckdb.DuckDBPyConnection) -> str | None:
                self._lake_columns(connection, ref)
                return _first_authors(connection, self.warehouse.alias, self._meta).get(ref.name)

            return self.warehouse.inspect(owner)
        source = self.sources.get(ref.source)
        _find(self.sources.tables(ref.source), ref)
        return source.created_by

    def _entry_after_update(self, ref: TableRef) -> TableEntry:
        row = self._datasets(ref.name)[ref.name]
        return TableEntry(
            name=ref.name,
            kind="source" if ref.source else "table",
            rows=None,
            size_bytes=None,
            owner=row.owner,
            description=row.description,
            tags=tuple(row.tags or ()),
            columns=(),
            source=ref.source,
        )


def _entry(
    name: str,
    kind: Literal["table", "source"],
    dataset: Dataset | None,
    *,
    default_owner: str | None,
    rows: int | None = None,
    size: int | None = None,
    columns: tuple[ColumnInfo, ...] = (),
    source: str | None = None,
) -> TableEntry:
    return TableEntry(
        name=name,
        kind=kind,
        rows=rows,
        size_bytes=size,
        owner=(dataset.owner if dataset and dataset.owner else None) or default_owner,
        description=dataset.description if dataset else "",
        tags=tuple(dataset.tags or ()) if dataset else (),
        columns=columns,
        source=source,
    )


def _find(tables: builtins.list[SourceTable], ref: TableRef) -> SourceTable:
    for table in tables:
        if table.schema == ref.schema and table.name == ref.table:
            return table
    raise NotFound(f"source {ref.source!r} has no table {ref.schema}.{ref.table}")


def _version(snapshot: Any, number: int) -> Version:
    return Version(
        number=number,
        version=snapshot.snapshot_id,
        time=snapshot.time,
        author=snapshot.author,
        message=snapshot.message,
        rows_inserted=snapshot.rows_inserted,
        rows_deleted=snapshot.rows_deleted,
        rows_updated=snapshot.rows_updated,
    )


def _clean_tags(tags: Any) -> builtins.list[str]:
    if isinstance(tags, str) or not isinstance(tags, list | tuple):
        raise InvalidInput("tags must be a list of text values")
    result: builtins.list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidInput(f"tag {tag!r} is not text")
        text = " ".join(tag.split())
        if not text:
            continue
        if len(text) > MAX_TAG_LENGTH or "," in text:
            raise InvalidInput(
                f"tag {text!r} is not valid: at most {MAX_TAG_LENGTH} characters, no commas"
            )
        if text not in result:
            result.append(text)
    if len(result) > MAX_TAGS:
        raise InvalidInput(f"a table may have at most {MAX_TAGS} tags, got {len(result)}")
    return result


def _missing(ref: TableRef) -> NotFound:
    return NotFound(f"no table {ref.name} in the warehouse (see `atelier data list`)")


def _first_authors(connection: duckdb.DuckDBPyConnection, alias: str, meta: str) -> dict[str, str]:
    """``schema.table`` -> author of the snapshot that created it, for every live table."""
    rows = connection.execute(
        f"""
        WITH live AS (
            SELECT t.table_id, s.schema_name, t.table_name
            FROM {meta}.ducklake_table t JOIN {meta}.ducklake_schema s USING (schema_id)
            WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL
        ), born AS (
            SELECT table_id, min(begin_snapshot) AS snapshot_id
            FROM {meta}.ducklake_table GROUP BY table_id
        )
        SELECT live.schema_name, live.table_name, snap.author
        FROM live JOIN born USING (table_id)
        JOIN ducklake_snapshots(?) snap ON snap.snapshot_id = born.snapshot_id
        WHERE snap.author IS NOT NULL
        """,
        [alias],
    ).fetchall()
    return {f"{s}.{t}": str(author) for s, t, author in rows}


def _sample(
    connection: duckdb.DuckDBPyConnection,
    table_sql: str,
    columns: tuple[ColumnInfo, ...],
    name: str = "",
    plan: Masking | None = None,
) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    """The first rows of the table, its personal columns masked by ``plan`` (``name``: the
    plan's key of the table)."""
    table_sql, masked = masked_read(plan, name, table_sql, [(c.name, c.type) for c in columns])
    if masked and plan is not None:
        plan.prepare(connection)
    # Zoned timestamps become text in SQL: making Python objects of them may need pytz.
    select_list = ", ".join(
        f"CAST({ident(c.name)} AS VARCHAR) AS {ident(c.name)}"
        if "WITH TIME ZONE" in c.type.upper()
        else ident(c.name)
        for c in columns
    )
    rows = connection.execute(
        f"SELECT {select_list or '*'} FROM {table_sql} LIMIT {SAMPLE_ROWS}"
    ).fetchall()
    return (
        tuple(c.name for c in columns),
        tuple(tuple(json_safe(value) for value in row) for row in rows),
    )


__all__ = ["Catalog", "TableDetail", "TableEntry", "Version"]
