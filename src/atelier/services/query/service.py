"""The query service: one user statement on a restricted DuckDB connection, recorded in the
history, stoppable by its timeout or by a cancel from another thread."""

from __future__ import annotations

import builtins
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from atelier.backends.metadata import Database
from atelier.backends.warehouse import Attachment, Warehouse
from atelier.backends.warehouse.guard import split_statements
from atelier.backends.warehouse.masking import raw_reads
from atelier.config.settings import QuerySettings
from atelier.errors import AtelierError, Conflict, InvalidInput, PermissionDenied
from atelier.services.auth import AuditLog, Principal
from atelier.services.catalog import access
from atelier.services.pii.audit import RawReadAudit
from atelier.services.query.control import Control
from atelier.services.query.errors import query_error
from atelier.services.query.history import History, QueryInfo, Status
from atelier.services.query.result import Column, QueryResult, status_of

if TYPE_CHECKING:
    import pyarrow

    from atelier.backends.warehouse import UserConnection
    from atelier.backends.warehouse.masking import Masking

log = logging.getLogger(__name__)

#: Rows per Arrow record batch: large enough to keep per-batch overhead (Python, HTTP chunks)
#: negligible, small enough that the first rows arrive quickly.
BATCH_ROWS = 122_880

_REGISTRIES: weakref.WeakKeyDictionary[Database, dict[int, tuple[RunningQuery, Control]]] = (
    weakref.WeakKeyDictionary()
)
_REGISTRIES_LOCK = threading.RLock()


class MaskingPolicy(Protocol):
    """What the service needs of :class:`atelier.services.pii.enforce.SqlMasking`."""

    def plan(self, principal: Principal | None, *, remote: bool = True) -> Masking: ...


class AttachmentProvider(Protocol):
    """What the service needs of :class:`atelier.services.catalog.Sources`."""

    def attachments(self) -> list[Attachment]: ...


@dataclass(frozen=True)
class RunningQuery:
    """A query running in this process."""

    query_id: int
    user: str
    sql: str
    started_at: datetime
    #: An optional label chosen by the caller (the SQL page) to find its query again.
    key: str | None


class QueryService:
    """User SQL over the warehouse (``schema.table``) and attached sources
    (``source.schema.table``), time travel included (``FROM t AT (VERSION => 3)``)."""

    def __init__(
        self,
        db: Database,
        warehouse: Warehouse,
        sources: AttachmentProvider,
        settings: QuerySettings,
        masking: MaskingPolicy | None = None,
    ) -> None:
        self.db = db
        #: Masks personal columns in user SQL (see docs/personal-data.md, "How SQL is
        #: masked"); None runs queries unmasked (tests of the warehouse alone).
        self.masking = masking
        self.warehouse = warehouse
        self.sources = sources
        self.settings = settings
        self.queries = History(db)
        self.audit = AuditLog(db)
        #: One ``pii.raw_read`` entry per query that reads personal data raw.
        self.raw_reads = RawReadAudit(db, self.audit)

    def run(
        self,
        sql: str,
        *,
        user: str | None = None,
        timeout: float | None = None,
        key: str | None = None,
        principal: Principal | None = None,
        remote: bool = True,
        client: str | None = None,
    ) -> QueryResult:
        """Start ``sql`` (one read-only statement) for ``user``; returns once DuckDB streams.

        ``timeout`` (seconds) may shorten ``query.timeout_seconds``, never lengthen it.
        Raises :class:`~atelier.errors.InvalidInput` with DuckDB's message (line, column) for
        a bad query, :class:`~atelier.backends.warehouse.QueryRefused` (403) for what user SQL
        may not do, ``QueryTimeout`` or ``QueryCancelled`` when stopped. With ``principal``
        (who acts), checked first: scientists and admins, code tokens with ``data:read``; the
        history records every run under its user, whatever the entry point.

        Personal columns are masked unless ``principal`` holds a raw grant; ``remote`` (the
        default, the stricter) says the rows leave the server, so that only an export grant
        gives raw values: on-server callers (the portal, the embedded SDK, notebooks) pass
        ``remote=False``. Without ``principal``, every tagged column is masked.

        A query that reads a tagged column raw (under a grant) is recorded in the audit log
        once it ends (``pii.raw_read``: tables, columns by kind, rows returned, the query's id,
        where from; ``client`` is the caller's address or ``cli``/``sdk`` on the workspace).
        """
        if principal is not None:
            access.check(principal, access.BUILDERS, "run SQL", ("data:read",))
            user = principal.name
        if not user:
            raise InvalidInput("a query needs the user who runs it")
        if not sql.strip():
            raise InvalidInput("no SQL given: write a query, e.g. SELECT * FROM bank.customers")
        limit = self._timeout(timeout)
        info = self.queries.start(user, sql)
        clock = time.perf_counter()
        stack = ExitStack()
        secrets: tuple[str, ...] = ()
        plan: Masking | None = None
        streamed = False
        control = Control(info.query_id, limit)
        running = self._registry()
        with _REGISTRIES_LOCK:
            running[info.query_id] = (
                RunningQuery(info.query_id, user, sql, info.started_at, key),
                control,
            )

        def end(status: Status, rows: int, error: str | None) -> float:
            control.finish()
            with _REGISTRIES_LOCK:
                running.pop(info.query_id, None)
            try:
                stack.close()
            finally:
                duration = (time.perf_counter() - clock) * 1000
                self.queries.finish(
                    info.query_id, status, duration_ms=duration, rows=rows, error=error
                )
                if streamed:
                    self.raw_reads.record(
                        plan,
                        principal,
                        read="sql",
                        rows=rows,
                        remote=remote,
                        query_id=info.query_id,
                        client=client,
                    )
            return duration

        try:
            with control.step():
                _check_single_statement(sql)
                attachments = self._attachments(sql)
                secrets = tuple(s for a in attachments for s in a.secrets)
                plan = self.masking.plan(principal, remote=remote) if self.masking else None
                connection = stack.enter_context(
                    self.warehouse.user_connection(
                        attachments, settings=self._settings(), masking=plan
                    )
                )
            control.attach(connection.interrupt)
            with control.step():
                if plan is not None and plan.raw:
                    # Before the statement runs: its stream holds the connection afterwards.
                    raw_reads(connection.connection, sql, plan, self.warehouse.alias)
                columns, reader = _execute(connection, sql)
            streamed = True
        except BaseException as error:
            failure = _failure(error, control, secrets)
            if failure is None:  # KeyboardInterrupt, or a bug: let it through as it is
                end(_unexpected_status(error), 0, f"{type(error).__name__}: {error}")
                raise
            end(status_of(failure), 0, str(failure))
            raise failure from None
        return QueryResult(
            info.query_id,
            columns,
            reader,
            control,
            end,
            lambda error: query_error(error, secrets),
        )

    def cancel(
        self,
        query_id: int,
        user: str | None = None,
        *,
        admin: bool = False,
        principal: Principal | None = None,
        client: str | None = None,
    ) -> None:
        """Stop query ``query_id``; only its owner or an admin (``admin=True``) may. With
        ``principal`` (who acts), checked and recorded in the audit log (``sql.cancel``)."""
        if principal is None:
            self._cancel(query_id, user or "", admin)
            return
        access.check(principal, access.BUILDERS, "cancel queries", ("data:read",))
        self._cancel(query_id, principal.name, principal.role == "admin")
        access.record(self.audit, "sql.cancel", principal, str(query_id), client)

    def _cancel(self, query_id: int, user: str, admin: bool) -> None:
        with _REGISTRIES_LOCK:
            found = self._registry().get(query_id)
        if found is None:
            info = self.queries.get(query_id)
            _check_owner(info.user, user, admin, query_id)
            if info.status == "running":
                raise Conflict(
                    f"query {query_id} is not running in this server: it was started by "
                    "another process (a CLI or a notebook on the workspace), or that process "
                    "ended without finishing it"
                )
            raise Conflict(f"query {query_id} is not running: it ended with {info.status}")
        query, control = found
        _check_owner(query.user, user, admin, query_id)
        if not control.stop("cancelled", by=user):
            raise Conflict(f"query {query_id} is already ending")

    def running(self, user: str | None = None) -> builtins.list[RunningQuery]:
        """Queries running in this process (``user``'s, or everyone's), oldest first."""
        with _REGISTRIES_LOCK:
            queries = [query for query, _ in self._registry().values()]
        return sorted(
            (q for q in queries if user is None or q.user == user), key=lambda q: q.query_id
        )

    def history(self, user: str, limit: int = 50) -> builtins.list[QueryInfo]:
        """``user``'s queries, newest first."""
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}")
        return self.queries.list(user, limit=limit)

    def get(self, query_id: int, user: str, *, admin: bool = False) -> QueryInfo:
        """One history entry; only its owner or an admin may see it."""
        info = self.queries.get(query_id)
        _check_owner(info.user, user, admin, query_id)
        return info

    # -- helpers -------------------------------------------------------------------------

    def _registry(self) -> dict[int, tuple[RunningQuery, Control]]:
        # Per metadata database, not per service: two services built at once for one
        # workbench (a race on its lazy property) must still see each other's queries.
        with _REGISTRIES_LOCK:
            return _REGISTRIES.setdefault(self.db, {})

    def _timeout(self, timeout: float | None) -> float:
        ceiling = self.settings.timeout_seconds
        if timeout is None:
            return ceiling
        if not timeout > 0:
            raise InvalidInput(f"timeout must be a positive number of seconds, not {timeout}")
        return min(float(timeout), ceiling)

    def _settings(self) -> dict[str, str | int]:
        return {"memory_limit": self.settings.memory_limit, "threads": os.cpu_count() or 1}

    def _attachments(self, sql: str) -> builtins.list[Attachment]:
        """The sources the statement names: attaching one costs a connection to its server,
        and one that is down must not break queries that do not use it."""
        return [a for a in self.sources.attachments() if _names(sql, a.alias)]


def _names(sql: str, alias: str) -> bool:
    pattern = rf'(?<![\w$"]){re.escape(alias)}(?![\w$"])|"{re.escape(alias)}"'
    return re.search(pattern, sql, re.IGNORECASE) is not None


def _check_single_statement(sql: str) -> None:
    # Split as the user wrote it: DuckDB parses one PIVOT into two statements of its own.
    statements = split_statements(sql)
    if len(statements) > 1:
        raise InvalidInput(
            f"{len(statements)} statements given: run one statement at a time "
            "(remove the extra ';')"
        )
    if not statements:
        raise InvalidInput("no SQL statement given (only comments?)")


def _execute(
    connection: UserConnection, sql: str
) -> tuple[list[Column], pyarrow.RecordBatchReader]:
    cursor = connection.execute(sql)
    columns = [Column(str(d[0]), str(d[1])) for d in cursor.description or ()]
    return columns, cursor.to_arrow_reader(BATCH_ROWS)


def _failure(
    error: BaseException, control: Control | None, secrets: Sequence[str]
) -> AtelierError | None:
    if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit: never replaced
        return None
    if control is not None and control.reason is not None:
        return control.error()
    return query_error(error, secrets)


def _unexpected_status(error: BaseException) -> Status:
    return "error" if isinstance(error, Exception) else "cancelled"


def _check_owner(owner: str, user: str, admin: bool, query_id: int) -> None:
    if owner != user and not admin:
        raise PermissionDenied(
            f"query {query_id} belongs to {owner}: only they or an admin may do this"
        )
