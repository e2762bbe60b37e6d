"""The personal-data tags of columns: the classifier suggests them, people confirm them.

::

    wb.pii_tags.suggest("bank.customers")                       # after an upload: new columns
    wb.pii_tags.get(principal, "bank.customers")                # tags, suggested and confirmed
    wb.pii_tags.confirm(principal, "bank.customers", "email", "email", client="cli")
    wb.pii_tags.remove(principal, "bank.customers", "segment", client="cli")
    wb.pii_tags.mark(principal, "bank.customers", personal=True, client="cli")

A tag is ``suggested`` by the classifier (:mod:`atelier.services.pii`), ``confirmed`` (or
changed to another kind) by the table's owner or an admin, or ``removed``: a removed tag is
kept, so that classifying the table again does not suggest it anew. Suggestions never replace
what a person decided. The owner of a table is the catalog's (its first writer, else the
source's creator); code tokens need the ``data`` scope to change tags, ``data:read`` to read
them. Every change is checked before any side effect and audited here (``pii.confirm``,
``pii.change``, ``pii.remove``, ``pii.classify``, ``pii.mark``).

What Atelier itself derives from tagged columns (a saved training set's feature computed from
``email``) carries their tags: :meth:`PiiTags.inherit` (or :func:`inherit`, for services that
have no catalog) stores them as suggestions with the source in their evidence, with no
principal check (the writer is Atelier), never over what a person decided, audited as
``pii.inherit``.

Classifying is bounded: a reservoir sample of ``sample_rows`` rows of a warehouse table (read
on the server), the first ``sample_rows`` rows of a source table (no full scan of a remote
database), and at most ``max_tables`` tables of a newly attached source. The hooks that run
after uploads and attachments (:meth:`suggest`, :meth:`suggest_source`) never raise: a
classifier error is logged and the upload or attachment stands.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import ColumnTag, PersonalTable, utcnow
from atelier.backends.warehouse import SourceError
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import AuditLog, Principal
from atelier.services.catalog import access
from atelier.services.catalog.names import TableRef
from atelier.services.pii import PiiKind
from atelier.services.pii.tables import classify_relation

if TYPE_CHECKING:
    from atelier.backends.warehouse import ColumnInfo, Warehouse
    from atelier.services.pii import ColumnFinding

log = logging.getLogger(__name__)

SUGGESTED = "suggested"
CONFIRMED = "confirmed"
REMOVED = "removed"
#: A confirmed tag of a column the table no longer has: kept, not shown, and confirmed again
#: if a column of that name comes back (see :meth:`PiiTags.suggest`).
DROPPED = "dropped"
#: Rows sampled per table, and tables classified when a source is attached.
SAMPLE_ROWS = 2000
MAX_SOURCE_TABLES = 20
READ_SCOPES = ("data:read", "data")
WRITE_SCOPES = ("data",)


class Catalog(Protocol):
    """What the tags need of the catalog (:class:`~.catalog.Catalog`; no import: no cycle)."""

    @property
    def warehouse(self) -> Warehouse: ...

    @property
    def sources(self) -> Any: ...

    def resolve(self, name: str) -> TableRef: ...

    def columns(self, ref: TableRef) -> tuple[ColumnInfo, ...]: ...

    def owner(self, ref: TableRef) -> str | None: ...


@dataclass(frozen=True)
class Tag:
    """One column's tag (suggested or confirmed)."""

    column: str
    kind: str
    state: str
    confidence: float | None
    evidence: str
    decided_by: str | None
    decided_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "state": self.state,
            "confidence": self.confidence,
            "evidence": self.evidence,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


@dataclass(frozen=True)
class TablePii:
    """The tags of one table's columns, and whether the whole table is personal data."""

    table: str
    personal: bool = False
    marked_by: str | None = None
    columns: tuple[Tag, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "personal": self.personal,
            "marked_by": self.marked_by,
            "columns": [tag.as_dict() for tag in self.columns],
        }

    def kinds(self) -> dict[str, str]:
        """Column -> kind of every live tag (suggested ones included)."""
        return {tag.column: tag.kind for tag in self.columns}


class PiiTags:
    """Read, suggest, confirm, change and remove the PII tags of columns."""

    def __init__(self, db: Database, catalog: Catalog, audit: AuditLog) -> None:
        self.db = db
        self.catalog = catalog
        self.audit = audit
        self.sample_rows = SAMPLE_ROWS
        self.max_source_tables = MAX_SOURCE_TABLES

    # -- reading -------------------------------------------------------------------------

    def get(self, principal: Principal, name: str) -> TablePii:
        """The tags of table ``name`` (scientists and admins; code tokens with ``data:read``)."""
        access.check(principal, access.BUILDERS, "read the PII tags of tables", READ_SCOPES)
        ref = self.catalog.resolve(name)
        present = {c.name for c in self.catalog.columns(ref)}
        found = self.stored(ref.name)
        # Tags of columns the table lost outside Atelier (a notebook's DROP and CREATE) are
        # not shown: they would describe data that is not there.
        columns = tuple(tag for tag in found.columns if tag.column in present)
        return TablePii(found.table, found.personal, found.marked_by, columns)

    def stored(self, name: str) -> TablePii:
        """What is stored for ``name`` (already resolved: ``schema.table`` or
        ``source.schema.table``), with no check: for other services (describe, masking)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(ColumnTag)
                .where(ColumnTag.table_name == name, ColumnTag.state.in_((SUGGESTED, CONFIRMED)))
                .order_by(ColumnTag.id)
            ).all()
            marked = session.scalars(
                select(PersonalTable).where(PersonalTable.table_name == name)
            ).first()
            tags = tuple(_tag(row) for row in rows)
            by = marked.marked_by if marked is not None else None
        return TablePii(name, marked is not None, by, tags)

    # -- changes by people ---------------------------------------------------------------

    def confirm(
        self,
        principal: Principal,
        name: str,
        column: str,
        kind: str,
        *,
        client: str | None = None,
    ) -> TablePii:
        """Confirm ``column``'s tag as ``kind`` (a suggestion of that kind, a new tag, or
        another kind than the one suggested or confirmed: audited as ``pii.change``)."""
        ref, column = self._check_change(principal, name, column, "confirm PII tags")
        kind = _kind(kind)
        now = utcnow()
        previous: dict[str, Any] = {}

        def change(session: Any) -> None:
            row = _row(session, ref.name, column)
            if row is None:
                row = ColumnTag(table_name=ref.name, column_name=column, evidence="")
                session.add(row)
            elif row.state != REMOVED:
                previous.update(kind=row.kind, state=row.state)
            if row.kind != kind:
                row.confidence = None
                row.evidence = ""
            row.kind = kind
            row.state = CONFIRMED
            row.decided_by = principal.name
            row.decided_at = now

        self._write(ref.name, change)
        action = "pii.change" if previous and previous["kind"] != kind else "pii.confirm"
        detail = {"column": column, "kind": kind}
        if previous:
            detail["was"] = f"{previous['kind']} ({previous['state']})"
        access.record(self.audit, action, principal, ref.name, client, detail)
        return self.stored(ref.name)

    def remove(
        self, principal: Principal, name: str, column: str, *, client: str | None = None
    ) -> TablePii:
        """Remove ``column``'s tag: it is not personal data (classifying again keeps it so)."""
        ref, column = self._check_change(principal, name, column, "remove PII tags")
        now = utcnow()
        removed: dict[str, str] = {}

        def change(session: Any) -> None:
            row = _row(session, ref.name, column)
            if row is None or row.state == REMOVED:
                return
            removed.update(kind=row.kind, state=row.state)
            row.state = REMOVED
            row.decided_by = principal.name
            row.decided_at = now

        self._write(ref.name, change)
        if not removed:
            raise NotFound(f"column {column!r} of {ref.name} has no PII tag")
        detail = {"column": column, "kind": removed["kind"], "was": removed["state"]}
        access.record(self.audit, "pii.remove", principal, ref.name, client, detail)
        return self.stored(ref.name)

    def mark(
        self, principal: Principal, name: str, *, personal: bool, client: str | None = None
    ) -> TablePii:
        """Mark the whole table as personal data (or take the mark off)."""
        ref, _ = self._check_change(principal, name, None, "mark tables as personal data")
        if not isinstance(personal, bool):
            raise InvalidInput("personal must be true or false")

        def change(session: Any) -> None:
            row = session.scalars(
                select(PersonalTable).where(PersonalTable.table_name == ref.name)
            ).first()
            if personal and row is None:
                session.add(PersonalTable(table_name=ref.name, marked_by=principal.name))
            elif not personal and row is not None:
                session.delete(row)

        self._write(ref.name, change)
        detail = {"personal": personal}
        access.record(self.audit, "pii.mark", principal, ref.name, client, detail)
        return self.stored(ref.name)

    def classify(self, principal: Principal, name: str, *, client: str | None = None) -> TablePii:
        """Classify every column again (owners and admins): new suggestions are stored, what
        people confirmed or removed is kept."""
        ref, _ = self._check_change(principal, name, None, "classify tables for PII")
        with self._reading(ref) as (connection, relation, first_rows):
            self._forget_columns(ref.name, _present(connection, relation))
            findings = classify_relation(
                connection, relation, None, sample_rows=self.sample_rows, first_rows=first_rows
            )
        stored = self._store(ref.name, findings)
        detail = {"suggested": stored, "found": len(findings)}
        access.record(self.audit, "pii.classify", principal, ref.name, client, detail)
        return self.stored(ref.name)

    # -- hooks: suggestions after writes (they never raise) ------------------------------

    def suggest(
        self, name: str, columns: builtins.list[str] | None = None, rewritten: bool = False
    ) -> int:
        """Classify the columns of ``name`` that have no tag yet (``columns``: only those),
        store the suggestions and return how many. Errors are logged, never raised.

        The tags of columns the table no longer has (a replace that changed them) go, except
        what a person confirmed: that is kept aside and confirmed again if a column of that
        name comes back. ``rewritten``: every row of the table was written anew (an upload
        that created or replaced it), so every column is classified again and the
        suggestions that the new data no longer bears out go too; people's decisions stay.
        """
        try:
            ref = self.catalog.resolve(name)
            # One session reads the columns and, where needed, the sample (each one opened
            # costs tens of milliseconds of every upload).
            with self._reading(ref) as (connection, relation, first_rows):
                present = _present(connection, relation)
                self._forget_columns(ref.name, present)
                fresh = None
                if not rewritten:
                    known = self._tagged(ref.name)
                    wanted = (
                        [c for c in columns if c in present] if columns is not None else present
                    )
                    fresh = [c for c in wanted if c not in known]
                    if not fresh:
                        return 0
                findings = classify_relation(
                    connection, relation, fresh, sample_rows=self.sample_rows, first_rows=first_rows
                )
            return self._store(ref.name, findings, present if rewritten else None)
        except Exception:
            log.exception("classifying %s for personal data failed", name)
            return 0

    def suggest_source(self, source: str) -> int:
        """Classify the tables of a newly attached source (at most :attr:`max_source_tables`
        of them, each from its first rows); errors are logged, never raised."""
        try:
            tables = self.catalog.sources.tables(source)
        except Exception:
            log.exception("listing the tables of source %s to classify them failed", source)
            return 0
        total = 0
        for table in tables[: self.max_source_tables]:
            total += self.suggest(table.full_name)
        if len(tables) > self.max_source_tables:
            log.info(
                "source %s: classified %d of %d tables (`atelier data pii TABLE --classify` "
                "does the others)",
                source,
                self.max_source_tables,
                len(tables),
            )
        return total

    def confirm_findings(self, name: str, by: str) -> int:
        """Store the findings for ``name`` as confirmed by ``by`` (the demo's owner: its data
        is known); returns how many columns were tagged. No check: for loaders, not people."""
        ref = self.catalog.resolve(name)
        findings = self._classify(ref, None)
        now = utcnow()

        def change(session: Any) -> None:
            for finding in findings:
                row = _row(session, ref.name, finding.column)
                if row is None:
                    row = ColumnTag(table_name=ref.name, column_name=finding.column)
                    session.add(row)
                _suggest(row, finding, now)
                row.state = CONFIRMED
                row.decided_by = by
                row.decided_at = now

        self._write(ref.name, change)
        return len(findings)

    def inherit(
        self,
        name: str,
        kinds: dict[str, str],
        *,
        source: str,
        by: str | None = None,
        columns: builtins.list[str] | None = None,
        origins: dict[str, str] | None = None,
    ) -> int:
        """Tag the columns of ``name`` (resolved: ``schema.table``) that Atelier wrote from
        tagged columns: see :func:`inherit`."""
        return inherit(
            self.db,
            self.audit,
            name,
            kinds,
            source=source,
            by=by,
            columns=columns,
            origins=origins,
        )

    # -- helpers -------------------------------------------------------------------------

    def _check_change(
        self, principal: Principal, name: str, column: str | None, doing: str
    ) -> tuple[TableRef, str]:
        """Role, scope, the table, ownership and the column: all before any side effect."""
        access.check(principal, access.BUILDERS, doing, WRITE_SCOPES)
        ref = self.catalog.resolve(name)
        columns = [c.name for c in self.catalog.columns(ref)]
        owner = self.catalog.owner(ref)
        if principal.role != "admin" and principal.name != owner:
            raise PermissionDenied(
                f"{principal.name} may not {doing} of {ref.name}: only its owner "
                f"({owner or 'nobody'}) and admins may"
            )
        if column is None:
            return ref, ""
        if not isinstance(column, str) or column not in columns:
            raise NotFound(
                f"{ref.name} has no column {column!r} (its columns: "
                f"{', '.join(columns[:20])}{', …' if len(columns) > 20 else ''})"
            )
        return ref, column

    def _classify(
        self, ref: TableRef, columns: builtins.list[str] | None
    ) -> builtins.list[ColumnFinding]:
        with self._reading(ref) as (connection, relation, first_rows):
            return classify_relation(
                connection, relation, columns, sample_rows=self.sample_rows, first_rows=first_rows
            )

    @contextmanager
    def _reading(self, ref: TableRef) -> Iterator[tuple[Any, str, bool]]:
        """A DuckDB connection to read ``ref`` on, its SQL name there, and whether to sample
        its first rows (an attached source: no full scan of a remote table)."""
        relation = ref.sql(self.catalog.warehouse.alias)
        if ref.source is None:
            with self.catalog.warehouse.connect() as connection:
                yield connection, relation, False
            return
        with self.catalog.sources.connect([ref.source]) as (connection, errors):
            if errors:
                raise SourceError(errors[ref.source])
            yield connection, relation, True

    def _tagged(self, name: str) -> set[str]:
        with self.db.session() as session:
            return set(
                session.scalars(select(ColumnTag.column_name).where(ColumnTag.table_name == name))
            )

    def _forget_columns(self, name: str, present: builtins.list[str]) -> None:
        """Tags of columns gone from ``name``: suggestions and "not personal" decisions go (a
        new column of that name is classified afresh); confirmed tags are set aside
        (:data:`DROPPED`), and those of columns present again are confirmed again."""
        with self.db.session() as session:
            for row in session.scalars(select(ColumnTag).where(ColumnTag.table_name == name)):
                if row.column_name in present:
                    if row.state == DROPPED:
                        row.state = CONFIRMED
                elif row.state in (CONFIRMED, DROPPED):
                    row.state = DROPPED
                else:
                    session.delete(row)

    def _store(
        self,
        name: str,
        findings: builtins.list[ColumnFinding],
        classified: builtins.list[str] | None = None,
    ) -> int:
        """Store ``findings`` as suggestions where nobody decided yet; how many were stored.
        ``classified``: the columns classified; their suggestions without a finding go."""
        now = utcnow()
        stored = 0
        found = {finding.column for finding in findings}

        def change(session: Any) -> None:
            nonlocal stored
            stored = 0
            if classified is not None:
                for row in session.scalars(
                    select(ColumnTag).where(
                        ColumnTag.table_name == name, ColumnTag.state == SUGGESTED
                    )
                ):
                    if row.column_name in classified and row.column_name not in found:
                        session.delete(row)
            for finding in findings:
                row = _row(session, name, finding.column)
                if row is None:
                    row = ColumnTag(table_name=name, column_name=finding.column)
                    session.add(row)
                elif row.state != SUGGESTED:
                    continue
                _suggest(row, finding, now)
                row.state = SUGGESTED
                stored += 1

        self._write(name, change)
        return stored

    def _write(self, name: str, change: Any) -> None:
        for _ in range(3):
            try:
                with self.db.session() as session:
                    change(session)
                return
            except IntegrityError:
                # Another writer tagged the same column first: apply the change to theirs.
                continue
        raise InvalidInput(f"could not store the PII tags of {name}: concurrent changes, retry")


def inherit(
    db: Database,
    audit: AuditLog,
    name: str,
    kinds: dict[str, str],
    *,
    source: str,
    by: str | None = None,
    columns: builtins.list[str] | None = None,
    origins: dict[str, str] | None = None,
) -> int:
    """Tag the columns ``kinds`` (column -> kind) of table ``name`` (``schema.table``) that
    Atelier wrote from tagged columns (``source`` says what, ``origins`` column -> the tagged
    columns it is computed from: both go in the tag's evidence).
    Tags are stored as suggestions (confidence 1): a suggestion of the classifier is replaced,
    a person's decision (confirmed, changed or removed) never is. ``columns``: every column the
    table has now; the tags of others (an older table of that name) are dropped unless a
    person decided them. No principal check: the caller is the service that wrote the table.
    Audited as ``pii.inherit`` (``by``: for whom). Returns how many tags were stored."""
    for column, kind in kinds.items():
        if not isinstance(column, str) or not column:
            raise InvalidInput(f"cannot tag column {column!r} of {name}: not a column name")
        _kind(kind)
    now = utcnow()
    stored: dict[str, str] = {}

    def change(session: Any) -> None:
        stored.clear()
        if columns is not None:
            for row in session.scalars(select(ColumnTag).where(ColumnTag.table_name == name)):
                if row.column_name not in columns and row.decided_by is None:
                    session.delete(row)
        for column, kind in kinds.items():
            row = _row(session, name, column)
            if row is None:
                row = ColumnTag(table_name=name, column_name=column)
                session.add(row)
            elif row.state != SUGGESTED or row.decided_by is not None:
                continue  # a person decided: theirs stands
            row.kind = str(PiiKind(kind))
            row.state = SUGGESTED
            row.confidence = 1.0
            origin = (origins or {}).get(column)
            row.evidence = (f"computed from {origin} ({source})" if origin else source)[:2000]
            row.suggested_at = now
            stored[column] = row.kind

    for _ in range(3):
        try:
            with db.session() as session:
                change(session)
            break
        except IntegrityError:
            continue
    else:
        raise InvalidInput(f"could not store the PII tags of {name}: concurrent changes, retry")
    if stored:
        detail = {"columns": stored, "from": source}
        audit.record("pii.inherit", actor=by, target=name, client=None, detail=detail)
    return len(stored)


def _present(connection: Any, relation: str) -> builtins.list[str]:
    """The columns of ``relation`` as they are now, read without reading a row."""
    return [
        str(column[0])
        for column in connection.execute(f"SELECT * FROM {relation} LIMIT 0").description
    ]


def _row(session: Any, table: str, column: str) -> ColumnTag | None:
    query = select(ColumnTag).where(ColumnTag.table_name == table, ColumnTag.column_name == column)
    row: ColumnTag | None = session.scalars(query).first()
    return row


def _suggest(row: ColumnTag, finding: ColumnFinding, now: datetime) -> None:
    row.kind = str(finding.kind)
    row.confidence = round(float(finding.confidence), 3)
    row.evidence = finding.evidence[:2000]
    row.suggested_at = now


def _kind(kind: Any) -> str:
    try:
        return str(PiiKind(kind))
    except ValueError:
        known = ", ".join(k.value for k in PiiKind)
        raise InvalidInput(f"PII kind {kind!r} is not known: use one of {known}") from None


def _tag(row: ColumnTag) -> Tag:
    return Tag(
        column=row.column_name,
        kind=row.kind,
        state=row.state,
        confidence=row.confidence,
        evidence=row.evidence or "",
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def forget(session: Any, prefix: str) -> None:
    """Delete the tags and marks of every table whose name starts with ``prefix`` (a removed
    source's), inside the caller's ``session``."""
    for model, column in (
        (ColumnTag, ColumnTag.table_name),
        (PersonalTable, PersonalTable.table_name),
    ):
        for row in session.scalars(select(model).where(column.startswith(prefix, autoescape=True))):
            session.delete(row)


__all__ = ["PiiTags", "TablePii", "Tag", "forget", "inherit"]
