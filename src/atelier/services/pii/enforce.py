"""What a person's SQL sees of personal data: the masking plan of one user connection.

::

    plan = SqlMasking(db, policies, grants).plan(principal, remote=True)
    with warehouse.user_connection(masking=plan) as connection: ...

Every live tag (suggested or confirmed) masks its column by its kind's rule, unless the acting
person may read it raw: :meth:`PiiGrants.may_see_raw` on the server, and
:meth:`PiiGrants.may_export_raw` when the result leaves it (``remote``). Viewers and an
unknown caller (no principal) always get masked values; admins are not exempt.

A table marked personal as a whole (``PersonalTable``) has its untagged columns redacted too
(``[redacted]``, NULL kept), unless a grant on the table covers it: the mark says the table's
content is about people, so a column nobody tagged (yet) is not evidence that it is safe.
Its tagged columns keep their own kind's rule, and a grant on a kind still covers them; a
grant on a kind cannot cover a column that has no kind.

The plan also carries the tagged columns the person may read raw (``Masking.raw``), so that
the reads that do can be audited (:mod:`atelier.services.pii.audit`).

The pseudonym's key-derived prefix is handed to the connection as a variable, never written
into SQL (see :mod:`atelier.backends.warehouse.masking`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import ColumnTag, PersonalTable
from atelier.backends.warehouse.masking import EVERY_COLUMN, UNTAGGED, Expression, Masking
from atelier.backends.warehouse.sql import ident
from atelier.errors import InvalidInput
from atelier.services.pii.grants import Acting, PiiGrants, table_key
from atelier.services.pii.kinds import PiiKind
from atelier.services.pii.policies import REDACTED

if TYPE_CHECKING:
    from atelier.services.pii.policies import Masker, PiiPolicies

#: Variable name of the pseudonym's secret prefix on a user connection.
PREFIX = "atelier_pii_prefix"
_REDACTED_SQL = "'" + REDACTED.replace("'", "''") + "'"


class SqlMasking:
    """Builds the masking plan of one user connection from the tags, rules and grants."""

    def __init__(self, db: Database, policies: PiiPolicies, grants: PiiGrants) -> None:
        self.db = db
        self.policies = policies
        self.grants = grants

    def tagged(self) -> dict[str, dict[str, str]]:
        """Table -> column -> kind of every live tag (names in lower case)."""
        return self._stored()[0]

    def personal(self) -> set[str]:
        """The tables marked personal as a whole (lower case)."""
        return self._stored()[1]

    def _stored(self) -> tuple[dict[str, dict[str, str]], set[str]]:
        """The live tags and the personal marks, in one session."""
        with self.db.session() as session:
            rows = session.execute(
                select(ColumnTag.table_name, ColumnTag.column_name, ColumnTag.kind).where(
                    ColumnTag.state != "removed"
                )
            ).all()
            names = session.scalars(select(PersonalTable.table_name)).all()
        tables: dict[str, dict[str, str]] = defaultdict(dict)
        for table, column, kind in rows:
            tables[str(table).lower()][str(column).lower()] = str(kind)
        return dict(tables), {str(name).lower() for name in names}

    def plan(self, principal: Acting | None, *, remote: bool = True) -> Masking:
        """The plan for ``principal``'s queries (``remote``: the results leave the server)."""
        tagged, personal = self._stored()
        if not tagged and not personal:
            return Masking()
        # The person's grants in one query, decided per column in memory.
        tables, kinds = (
            self.grants.raw_scope(principal, export=remote)
            if principal is not None
            else (set(), set())
        )
        masked: dict[str, dict[str, PiiKind]] = {}
        raw: dict[str, dict[str, str]] = {}
        for table, columns in tagged.items():
            key = _grant_key(table)
            for column, kind_name in columns.items():
                try:
                    kind = PiiKind(kind_name)
                except ValueError:
                    continue
                if key is not None and (key in tables or kind.value in kinds):
                    raw.setdefault(table, {})[column] = kind.value
                else:
                    masked.setdefault(table, {})[column] = kind
        whole: dict[str, Expression] = {}
        for table in personal:
            key = _grant_key(table)
            if key is not None and key in tables:
                raw.setdefault(table, {})[EVERY_COLUMN] = UNTAGGED
            else:
                whole[table] = _redacted
        if not masked and not whole:
            return Masking(raw=raw)
        masker = self.policies.masker()
        return Masking(
            {
                table: {column: _expression(masker, kind) for column, kind in cols.items()}
                for table, cols in masked.items()
            },
            _variables(masker),
            personal=whole,
            raw=raw,
        )


def _grant_key(table: str) -> str | None:
    """A tagged table's name as grants hold theirs; None for a name no grant can cover (an
    attached source's ``source.schema.table``)."""
    try:
        return table_key(table)
    except InvalidInput:
        return None


def masked_read(
    plan: Masking | None, table: str, table_sql: str, columns: Iterable[tuple[str, str]]
) -> tuple[str, frozenset[str]]:
    """``table_sql`` as ``plan`` lets its reader see it, for the server's own reads for a person
    (table samples, profiles): a subquery with each masked column replaced by its mask, and
    the names (lower case) of the masked columns. ``table`` is the plan's key (``schema.table``
    or ``source.schema.table``), ``columns`` the table's (name, DuckDB type) pairs. The caller
    runs :meth:`Masking.prepare` on its connection first (the pseudonym's key blocks).

    Every column is read, so the raw ones among them are noted in ``plan.reads``, for the
    audit of raw reads (:mod:`atelier.services.pii.audit`)."""
    pairs = list(columns)
    if plan is None:
        return table_sql, frozenset()
    key = table.lower()
    plan.reads.note(key, plan.raw_kinds(key, (name for name, _ in pairs)))
    if not plan.masks(key):
        return table_sql, frozenset()
    select = []
    hidden = set()
    for name, sql_type in pairs:
        quoted = ident(name)
        expression = plan.expression(key, name.lower())
        if expression is None:
            select.append(quoted)
        else:
            hidden.add(name.lower())
            select.append(f"{expression(quoted, sql_type)} AS {quoted}")
    if not hidden:
        return table_sql, frozenset()
    return f"(SELECT {', '.join(select)} FROM {table_sql})", frozenset(hidden)


def _redacted(column: str, sql_type: str) -> str:
    """The mask of an untagged column of a table marked personal: ``[redacted]``."""
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {_REDACTED_SQL} END"


def _variables(masker: Masker) -> dict[str, bytes]:
    return {PREFIX: masker.pseudonym_prefix}


def _expression(masker: Masker, kind: PiiKind) -> Expression:
    secret = masker.pseudonym_prefix.hex()

    def expression(column: str, sql_type: str) -> str:
        text = masker.sql(kind, column, sql_type, prefix_sql=f"getvariable('{PREFIX}')")
        if secret in text:  # never in SQL text: fail closed
            raise RuntimeError("a masking expression would carry the pseudonym key")
        return text

    return expression


__all__ = ["SqlMasking", "masked_read"]
