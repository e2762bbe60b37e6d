"""Saved queries (metadata table ``saved_queries``): statements kept under a name.

A saved query belongs to the person who saved it. Shared ones are listed to everyone who may
use the SQL page; the others only to their owner. Only the owner or an admin changes or
deletes one. Someone else's unshared query is answered as missing, so its name and text never
leak, not even through the error.

::

    saved = SavedQueries(db)
    q = saved.save(principal, "churn by segment", "SELECT ...", shared=True)
    saved.visible(principal)                # own and shared, by name
    saved.update(principal, q.id, sql="SELECT ...")
    saved.delete(principal, q.id)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import SavedQuery as SavedQueryRow
from atelier.backends.metadata.models import utcnow
from atelier.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.query.history import MAX_TEXT

#: Who may use the SQL page, and so keep queries.
ROLES = frozenset({"admin", "scientist"})
MAX_NAME = 100
#: Control characters (newlines, tabs, NUL...) would break the list and the file names.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SavedQuery:
    """One saved query, as its readers see it."""

    id: int
    name: str
    sql: str
    owner: str
    shared: bool
    created_at: datetime
    updated_at: datetime

    def editable_by(self, principal: Principal) -> bool:
        return principal.role == "admin" or principal.name == self.owner

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def check_name(name: str) -> str:
    """The name stripped, or InvalidInput saying what is wrong with it."""
    if not isinstance(name, str):
        raise InvalidInput("query name: a text is expected")
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("query name is empty: give the query a name")
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"query name is {len(cleaned)} characters long (at most {MAX_NAME})")
    if _CONTROL.search(cleaned):
        raise InvalidInput("query name contains a control character (newline, tab...)")
    return cleaned


def check_sql(sql: str) -> str:
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInput("query SQL is empty: write the statement to save")
    if len(sql) > MAX_TEXT:
        raise InvalidInput(f"query SQL is {len(sql):,} characters long (at most {MAX_TEXT:,})")
    return sql


class SavedQueries:
    """Save, list, change and delete named queries, with the rules above."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def visible(self, principal: Principal) -> list[SavedQuery]:
        """The caller's own queries and everyone's shared ones, by name then owner."""
        _check_role(principal)
        query = (
            select(SavedQueryRow)
            .where(or_(SavedQueryRow.owner == principal.name, SavedQueryRow.shared.is_(True)))
            .order_by(SavedQueryRow.name, SavedQueryRow.owner, SavedQueryRow.id)
        )
        with self.db.session() as session:
            return [_saved(row) for row in session.scalars(query)]

    def get(self, principal: Principal, query_id: int) -> SavedQuery:
        """One query the caller may see (theirs, a shared one; an admin sees any)."""
        _check_role(principal)
        with self.db.session() as session:
            return _saved(self._visible_row(session, principal, query_id))

    def save(
        self, principal: Principal, name: str, sql: str, *, shared: bool = False
    ) -> SavedQuery:
        """Save ``sql`` under ``name``: a new query, or the caller's own query of that name
        changed (its text and sharing)."""
        _check_role(principal)
        name, sql = check_name(name), check_sql(sql)
        with self.db.session() as session:
            row = session.scalars(
                select(SavedQueryRow).where(
                    SavedQueryRow.owner == principal.name, SavedQueryRow.name == name
                )
            ).first()
            if row is None:
                now = utcnow()
                row = SavedQueryRow(
                    name=name,
                    sql=sql,
                    owner=principal.name,
                    shared=bool(shared),
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
            else:
                row.sql, row.shared, row.updated_at = sql, bool(shared), utcnow()
            self._flush(session, name)
            return _saved(row)

    def create(
        self, principal: Principal, name: str, sql: str, *, shared: bool = False
    ) -> SavedQuery:
        """A new query; Conflict when the caller already has one of that name."""
        _check_role(principal)
        name, sql = check_name(name), check_sql(sql)
        now = utcnow()
        row = SavedQueryRow(
            name=name,
            sql=sql,
            owner=principal.name,
            shared=bool(shared),
            created_at=now,
            updated_at=now,
        )
        with self.db.session() as session:
            session.add(row)
            self._flush(session, name)
            return _saved(row)

    def update(
        self,
        principal: Principal,
        query_id: int,
        *,
        name: str | None = None,
        sql: str | None = None,
        shared: bool | None = None,
    ) -> SavedQuery:
        """Change a query's name, text or sharing (its owner or an admin)."""
        _check_role(principal)
        # Checked before anything is read or written: a bad value changes nothing.
        new_name = check_name(name) if name is not None else None
        new_sql = check_sql(sql) if sql is not None else None
        with self.db.session() as session:
            row = self._editable_row(session, principal, query_id)
            if new_name is not None:
                row.name = new_name
            if new_sql is not None:
                row.sql = new_sql
            if shared is not None:
                row.shared = bool(shared)
            row.updated_at = utcnow()
            self._flush(session, row.name)
            return _saved(row)

    def delete(self, principal: Principal, query_id: int) -> SavedQuery:
        """Delete a query (its owner or an admin); the deleted query is returned."""
        _check_role(principal)
        with self.db.session() as session:
            row = self._editable_row(session, principal, query_id)
            gone = _saved(row)
            session.delete(row)
            return gone

    # -- rules ------------------------------------------------------------------------------

    def _visible_row(self, session: Any, principal: Principal, query_id: int) -> SavedQueryRow:
        row = session.get(SavedQueryRow, query_id)
        if row is None or not (
            row.shared or row.owner == principal.name or principal.role == "admin"
        ):
            # Someone else's unshared query is answered as missing: no name, no existence.
            raise NotFound(f"no saved query {query_id}")
        return row  # type: ignore[no-any-return]

    def _editable_row(self, session: Any, principal: Principal, query_id: int) -> SavedQueryRow:
        row = self._visible_row(session, principal, query_id)
        if not _saved(row).editable_by(principal):
            raise PermissionDenied(
                f"saved query {query_id} is {row.owner}'s: only its owner or an admin may "
                "change or delete it"
            )
        return row

    @staticmethod
    def _flush(session: Any, name: str) -> None:
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"a saved query named {name!r} already exists for its owner") from None


def _check_role(principal: Principal) -> None:
    if principal.role not in ROLES:
        raise PermissionDenied("saved queries are for the SQL page's users (admins, scientists)")


def _saved(row: SavedQueryRow) -> SavedQuery:
    return SavedQuery(
        id=row.id,
        name=row.name,
        sql=row.sql,
        owner=row.owner,
        shared=row.shared,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
