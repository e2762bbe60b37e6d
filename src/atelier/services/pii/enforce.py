"""What a person's SQL sees of personal data: the masking plan of one user connection.

::

    plan = SqlMasking(db, policies, grants).plan(principal, remote=True)
    with warehouse.user_connection(masking=plan) as connection: ...

Every live tag (suggested or confirmed) masks its column by its kind's rule, unless the acting
person may read it raw: :meth:`PiiGrants.may_see_raw` on the server, and
:meth:`PiiGrants.may_export_raw` when the result leaves it (``remote``). Viewers and an
unknown caller (no principal) always get masked values; admins are not exempt.

The pseudonym's key-derived blocks are handed to the connection as variables, never written
into SQL (see :mod:`atelier.backends.warehouse.masking`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import ColumnTag
from atelier.backends.warehouse.masking import Expression, Masking
from atelier.backends.warehouse.sql import ident
from atelier.errors import InvalidInput
from atelier.services.pii.grants import Acting, PiiGrants, table_key
from atelier.services.pii.kinds import PiiKind

if TYPE_CHECKING:
    from atelier.services.pii.policies import Masker, PiiPolicies

#: Variable names of the pseudonym's key blocks on a user connection.
INNER = "atelier_pii_inner"
OUTER = "atelier_pii_outer"


class SqlMasking:
    """Builds the masking plan of one user connection from the tags, rules and grants."""

    def __init__(self, db: Database, policies: PiiPolicies, grants: PiiGrants) -> None:
        self.db = db
        self.policies = policies
        self.grants = grants

    def tagged(self) -> dict[str, dict[str, str]]:
        """Table -> column -> kind of every live tag (names in lower case)."""
        with self.db.session() as session:
            rows = session.execute(
                select(ColumnTag.table_name, ColumnTag.column_name, ColumnTag.kind).where(
                    ColumnTag.state != "removed"
                )
            ).all()
        tables: dict[str, dict[str, str]] = defaultdict(dict)
        for table, column, kind in rows:
            tables[str(table).lower()][str(column).lower()] = str(kind)
        return dict(tables)

    def plan(self, principal: Acting | None, *, remote: bool = True) -> Masking:
        """The plan for ``principal``'s queries (``remote``: the results leave the server)."""
        tagged = self.tagged()
        if not tagged:
            return Masking()
        # The person's grants in one query, decided per column in memory.
        tables, kinds = (
            self.grants.raw_scope(principal, export=remote)
            if principal is not None
            else (set(), set())
        )
        masked: dict[str, dict[str, PiiKind]] = {}
        for table, columns in tagged.items():
            for column, kind_name in columns.items():
                try:
                    kind = PiiKind(kind_name)
                except ValueError:
                    continue
                key = _grant_key(table)
                if key is not None and (key in tables or kind.value in kinds):
                    continue
                masked.setdefault(table, {})[column] = kind
        if not masked:
            return Masking()
        masker = self.policies.masker()
        return Masking(
            {
                table: {column: _expression(masker, kind) for column, kind in cols.items()}
                for table, cols in masked.items()
            },
            _variables(masker),
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
    runs :meth:`Masking.prepare` on its connection first (the pseudonym's key blocks)."""
    masked = (plan.tables.get(table.lower()) if plan else None) or {}
    pairs = list(columns)
    hidden = frozenset(name.lower() for name, _ in pairs if name.lower() in masked)
    if not hidden:
        return table_sql, hidden
    select = []
    for name, sql_type in pairs:
        quoted = ident(name)
        expression = masked.get(name.lower())
        select.append(f"{expression(quoted, sql_type)} AS {quoted}" if expression else quoted)
    return f"(SELECT {', '.join(select)} FROM {table_sql})", hidden


def _blocks(masker: Masker) -> tuple[bytes, bytes]:
    return masker._inner, masker._outer


def _variables(masker: Masker) -> dict[str, bytes]:
    inner, outer = _blocks(masker)
    return {INNER: inner, OUTER: outer}


def _expression(masker: Masker, kind: PiiKind) -> Expression:
    inner, outer = _blocks(masker)
    literals = {
        f"from_hex('{inner.hex()}')": f"getvariable('{INNER}')",
        f"from_hex('{outer.hex()}')": f"getvariable('{OUTER}')",
    }

    def expression(column: str, sql_type: str) -> str:
        text = masker.sql(kind, column, sql_type)
        for literal, variable in literals.items():
            text = text.replace(literal, variable)
        if inner.hex() in text or outer.hex() in text:  # never in SQL text: fail closed
            raise RuntimeError("a masking expression would carry the pseudonym key")
        return text

    return expression


__all__ = ["SqlMasking", "masked_read"]
