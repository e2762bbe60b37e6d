"""The audit of raw reads of personal data: who read which tagged columns unmasked, when, how
many rows, and from where.

Each query, table sample or profile that reads at least one tagged column raw (under a grant,
see :mod:`.grants`) is one ``pii.raw_read`` entry in the audit log, written by the service
that did the read once it knows the rows returned::

    RawReadAudit(db, audit).record(plan, principal, read="sql", rows=42, remote=True,
                                   query_id=7, client="203.0.113.9")

Which columns count is decided where the data is read: by the walk over the statement's parse
tree for SQL (:func:`atelier.backends.warehouse.masking.raw_reads`, conservative: a name
written anywhere, ``*``, a whole row), by the columns read for samples and profiles
(:func:`.enforce.masked_read`). Masked reads record nothing: a masked value is what anyone may
see. The entry names tables, columns and their kinds, never a value.

The feature store records its reads the same way: a training set (``read="training_set"``)
or an online lookup (``read="online"``) that returns values computed from tagged columns the
person may read raw is one entry, naming the source tables and columns behind those values
(:func:`atelier.services.features.pii.feature_pii`), with the training set or views in its
detail (:meth:`RawReadAudit.record_columns`).

Admins list the entries with filters (user, table, kind, dates): the portal's
``/admin/audit/raw-reads`` and ``GET /api/v1/audit?action=pii.raw_read``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select

from atelier.backends.metadata import AuditEvent, Database
from atelier.backends.warehouse.masking import UNTAGGED, Masking
from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.pii.grants import Recorder
from atelier.services.pii.kinds import PiiKind

#: The audit log's action for a raw read of personal data.
RAW_READ = "pii.raw_read"
#: What read the data: user SQL, a table's sample rows, a table's profile, a training set, an
#: online lookup of features.
READS = ("sql", "sample", "profile", "training_set", "online")
#: Code tokens are named "<what> <name>" ("job 12", "notebook ada", "app churn").
CODE = ("job", "notebook", "app")
#: The kinds a raw read may name: the PII kinds, and the untagged columns of a personal table.
KINDS = (*(kind.value for kind in PiiKind), UNTAGGED)
_BATCH = 500


class Reader(Protocol):
    """Who reads (``services.auth.Principal``)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def via(self) -> str: ...
    @property
    def scopes(self) -> frozenset[str] | None: ...
    @property
    def label(self) -> str | None: ...


def origin(principal: Reader | None, client: str | None, remote: bool) -> str:
    """Where a read comes from: ``portal`` (a browser session), ``job``, ``notebook`` or
    ``app`` (their code tokens), ``cli`` or ``sdk`` on the workspace itself, ``api`` for any
    other HTTP client (the remote SDK and CLI, scripts), ``server`` for the server's own reads
    made for nobody."""
    if principal is None:
        return "server"
    if principal.via == "session":
        return "portal"
    if principal.scopes is not None and principal.label:
        what = principal.label.split(" ", 1)[0].lower()
        if what in CODE:
            return what
    if client in ("cli", "sdk"):
        return client
    return "api" if remote else "sdk"


@dataclass(frozen=True)
class RawRead:
    """One raw read, as the audit log holds it."""

    id: int
    at: datetime
    actor: str | None
    read: str
    tables: tuple[str, ...]
    #: table -> kind -> columns
    columns: dict[str, dict[str, list[str]]]
    kinds: tuple[str, ...]
    rows: int
    query_id: int | None
    origin: str
    remote: bool
    client: str | None
    detail: dict[str, Any]

    def as_entry(self) -> dict[str, Any]:
        """As the audit log's wire entry (``contract.audit.AuditEntry``)."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": RAW_READ,
            "target": ", ".join(self.tables),
            "success": True,
            "client": self.client,
            "detail": self.detail,
        }


class RawReadAudit:
    """Writes and lists the ``pii.raw_read`` entries of the audit log."""

    def __init__(self, db: Database, recorder: Recorder) -> None:
        self.db = db
        self.recorder = recorder

    def record(
        self,
        plan: Masking | None,
        principal: Reader | None,
        *,
        read: str,
        rows: int,
        remote: bool,
        query_id: int | None = None,
        client: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """One entry for the raw columns ``plan`` saw read (and forgets them); nothing when
        none was. Returns whether an entry was written."""
        found = plan.reads.take() if plan is not None else {}
        return self.record_columns(
            found,
            principal,
            read=read,
            rows=rows,
            remote=remote,
            query_id=query_id,
            client=client,
            detail=detail,
        )

    def record_columns(
        self,
        found: Mapping[str, Mapping[str, str]],
        principal: Reader | None,
        *,
        read: str,
        rows: int,
        remote: bool,
        query_id: int | None = None,
        client: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """One entry for the raw columns ``found`` (table -> column -> kind); nothing when
        there are none. ``detail`` adds what names the read (a training set, the views), never
        a value; it cannot replace the entry's own fields. Returns whether an entry was
        written."""
        if read not in READS:
            raise ValueError(f"unknown read {read!r}")
        found = {table: dict(cols) for table, cols in found.items() if cols}
        if not found:
            return False
        columns: dict[str, dict[str, list[str]]] = {}
        for table in sorted(found):
            by_kind: dict[str, list[str]] = {}
            for column, kind in sorted(found[table].items()):
                by_kind.setdefault(kind, []).append(column)
            columns[table] = by_kind
        entry: dict[str, Any] = dict(detail or {})
        entry |= {
            "read": read,
            "tables": sorted(found),
            "columns": columns,
            "kinds": sorted({kind for cols in found.values() for kind in cols.values()}),
            "rows": int(rows),
            "query_id": query_id,
            "from": origin(principal, client, remote),
            "remote": remote,
        }
        if principal is not None and principal.label:
            entry["token"] = principal.label
        self.recorder.record(
            RAW_READ,
            actor=principal.name if principal is not None else None,
            target=", ".join(sorted(found))[:255],
            client=client,
            detail=entry,
        )
        return True

    def entries(
        self,
        principal: Reader,
        *,
        user: str | None = None,
        table: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[RawRead]:
        """The raw reads, newest first, that match every filter given: ``user`` (who read),
        ``table`` (``schema.table``, ``source.schema.table``, or a bare table name), ``kind``,
        from ``since`` (included) to ``until`` (excluded). Admins only."""
        if principal.role != "admin":
            raise PermissionDenied(
                f"{principal.name} ({principal.role}) may not read the audit log: it needs admin"
            )
        if principal.scopes is not None:
            raise PermissionDenied("a token made for code may not read the audit log")
        if not 1 <= limit <= 10000:
            raise InvalidInput(f"limit must be between 1 and 10000, not {limit}")
        if kind is not None and kind not in KINDS:
            raise InvalidInput(f"kind {kind!r} is not a kind of personal data: {', '.join(KINDS)}")
        since, until = _aware(since), _aware(until)
        if since is not None and until is not None and since >= until:
            raise InvalidInput("the date range is empty: 'since' must come before 'until'")
        wanted = table.strip().lower() if table and table.strip() else None
        found: list[RawRead] = []
        cursor = before_id
        while len(found) < limit:
            query = (
                select(AuditEvent)
                .where(AuditEvent.action == RAW_READ)
                .order_by(AuditEvent.id.desc())
                .limit(_BATCH)
            )
            if user:
                query = query.where(AuditEvent.actor == user)
            if since is not None:
                query = query.where(AuditEvent.at >= since)
            if until is not None:
                query = query.where(AuditEvent.at < until)
            if cursor is not None:
                query = query.where(AuditEvent.id < cursor)
            with self.db.session() as session:
                events = list(session.scalars(query))
            for event in events:
                entry = _raw_read(event)
                if _matches(entry, wanted, kind):
                    found.append(entry)
                    if len(found) == limit:
                        break
            if len(events) < _BATCH:
                break
            cursor = events[-1].id
        return found


def _matches(entry: RawRead, table: str | None, kind: str | None) -> bool:
    if kind is not None and kind not in entry.kinds:
        return False
    if table is None:
        return True
    return any(name == table or name.endswith(f".{table}") for name in entry.tables)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _raw_read(event: AuditEvent) -> RawRead:
    detail = dict(event.detail or {})
    query_id = detail.get("query_id")
    return RawRead(
        id=event.id,
        at=_aware(event.at) or event.at,
        actor=event.actor,
        read=str(detail.get("read", "")),
        tables=tuple(str(t) for t in detail.get("tables") or ()),
        columns={
            str(t): {str(k): [str(c) for c in cols] for k, cols in dict(kinds).items()}
            for t, kinds in dict(detail.get("columns") or {}).items()
        },
        kinds=tuple(str(k) for k in detail.get("kinds") or ()),
        rows=int(detail.get("rows") or 0),
        query_id=int(query_id) if query_id is not None else None,
        origin=str(detail.get("from", "")),
        remote=bool(detail.get("remote")),
        client=event.client,
        detail=detail,
    )


__all__ = ["KINDS", "RAW_READ", "RawRead", "RawReadAudit", "origin"]
