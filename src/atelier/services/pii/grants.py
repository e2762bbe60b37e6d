"""Raw-access grants: who may see personal data unmasked, where, why and until when.

An admin grants one user raw access to one table (``bank.customers``) or to one kind of
personal data in every table (``email``), with a reason and an expiry no further than
``[pii] max_grant_days``; ``export`` lets the raw values leave the server too (downloads,
remote clients). Grants are created and revoked by admins only, from a person's own session or
token (never a token made for code), and each is audited (``pii.grant``, ``pii.revoke``,
refusals included). Nobody is exempt: an admin without a grant sees masked values too; a
viewer never sees raw values, grant or not.

:meth:`PiiGrants.may_see_raw` and :meth:`PiiGrants.may_export_raw` are what read paths ask.

This package sits beside ``services.auth`` (neither imports the other), so the acting user and
the audit log are taken by their shape (:class:`Acting`, :class:`Recorder`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select

from atelier.backends.metadata import Database, User
from atelier.backends.metadata.models import PiiGrant
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.pii.kinds import PiiKind

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
REASON_LIMIT = 1000


class Acting(Protocol):
    """The acting user (``services.auth.Principal``)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def scopes(self) -> frozenset[str] | None: ...


class Recorder(Protocol):
    """The audit log (``services.auth.AuditLog``)."""

    def record(
        self,
        action: str,
        *,
        actor: str | None,
        target: str | None = None,
        success: bool = True,
        client: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class GrantInfo:
    id: int
    user: str
    table: str | None
    kind: str | None
    reason: str
    export: bool
    granted_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > datetime.now(UTC)

    def as_dict(self) -> dict[str, Any]:
        found = dict(self.__dict__)
        for key in ("created_at", "expires_at", "revoked_at"):
            found[key] = found[key].isoformat() if found[key] is not None else None
        found["active"] = self.active
        return found


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def table_key(name: str) -> str:
    """A table's name as grants store it: ``schema.table`` in lower case (DuckDB's names are
    case-insensitive); a bare name is in ``main``."""
    text = name.strip()
    if not _TABLE.fullmatch(text):
        raise InvalidInput(
            f"{name!r} is not a table name: write schema.table (letters, digits and _)"
        )
    return (text if "." in text else f"main.{text}").lower()


class PiiGrants:
    def __init__(self, db: Database, audit: Recorder, *, max_days: int) -> None:
        self.db = db
        self.audit = audit
        self.max_days = max_days

    # -- admins ----------------------------------------------------------------------------

    def _admin_only(
        self, principal: Acting, action: str, doing: str, target: str | None, client: str | None
    ) -> None:
        why = None
        if principal.role != "admin":
            why = f"{principal.name} ({principal.role}) may not {doing}: it needs admin"
        elif principal.scopes is not None:
            why = f"a token made for code may not {doing}: use an admin's own session or token"
        if why is not None:
            self.audit.record(
                action,
                actor=principal.name,
                target=target,
                success=False,
                client=client,
                detail={"refused": why},
            )
            raise PermissionDenied(why)

    def grant(
        self,
        principal: Acting,
        user: str,
        *,
        table: str | None = None,
        kind: str | None = None,
        reason: str,
        days: int | None = None,
        expires_at: datetime | None = None,
        export: bool = False,
        client: str | None = None,
    ) -> GrantInfo:
        """Give ``user`` raw access to ``table`` or to ``kind`` (exactly one) for ``reason``,
        until ``expires_at`` or for ``days`` (exactly one; at most ``max_days`` from now)."""
        self._admin_only(principal, "pii.grant", "grant raw access to personal data", user, client)
        if (table is None) == (kind is None):
            raise InvalidInput("a grant is on a table or on a kind of personal data: give one")
        stored_table = table_key(table) if table is not None else None
        stored_kind = None
        if kind is not None:
            try:
                stored_kind = PiiKind(kind.strip().lower()).value
            except ValueError:
                raise InvalidInput(
                    f"no kind of personal data {kind!r} "
                    f"(kinds are {', '.join(k.value for k in PiiKind)})"
                ) from None
        reason = (reason or "").strip()
        if len(reason) < 3:
            raise InvalidInput("a grant needs a reason: say why raw values are needed")
        if len(reason) > REASON_LIMIT:
            raise InvalidInput(f"the reason is too long (at most {REASON_LIMIT} characters)")
        now = _now()
        if (days is None) == (expires_at is None):
            raise InvalidInput("a grant needs an expiry: give days or an expiry date, not both")
        if days is not None:
            if days < 1:
                raise InvalidInput(f"days must be at least 1 (got {days})")
            if days > self.max_days:
                raise InvalidInput(
                    f"a grant lasts at most {self.max_days} days ([pii] max_grant_days); got {days}"
                )
            expiry = now + timedelta(days=days)
        else:
            assert expires_at is not None
            expiry = _aware(expires_at)
            if expiry <= now:
                raise InvalidInput(f"the expiry {expiry.isoformat()} is in the past")
            if expiry > now + timedelta(days=self.max_days):
                raise InvalidInput(
                    f"a grant lasts at most {self.max_days} days ([pii] max_grant_days): "
                    f"{expiry.isoformat()} is further"
                )
        with self.db.session() as session:
            target = session.scalars(select(User).where(User.name == user)).first()
            if target is None:
                raise NotFound(f"no user {user!r}")
            if target.role == "viewer":
                raise InvalidInput(f"{user} is a viewer: viewers always see personal data masked")
            if target.disabled:
                raise InvalidInput(f"{user} is disabled")
            row = PiiGrant(
                user_id=target.id,
                table_name=stored_table,
                kind=stored_kind,
                reason=reason,
                export=export,
                granted_by=principal.name,
                created_at=now,
                expires_at=expiry,
            )
            session.add(row)
            session.flush()
            info = self._info(row, target.name)
        self.audit.record(
            "pii.grant",
            actor=principal.name,
            target=user,
            client=client,
            detail={
                "grant": info.id,
                "table": info.table,
                "kind": info.kind,
                "export": info.export,
                "expires_at": info.expires_at.isoformat(),
                "reason": info.reason,
            },
        )
        return info

    def revoke(self, principal: Acting, grant_id: int, *, client: str | None = None) -> GrantInfo:
        """End grant ``grant_id`` now (it stays listed, revoked)."""
        self._admin_only(
            principal, "pii.revoke", "revoke raw access to personal data", str(grant_id), client
        )
        with self.db.session() as session:
            found = session.execute(
                select(PiiGrant, User.name)
                .join(User, User.id == PiiGrant.user_id)
                .where(PiiGrant.id == grant_id)
            ).first()
            if found is None:
                raise NotFound(f"no grant {grant_id}")
            row, name = found
            if row.revoked_at is None:
                row.revoked_at = _now()
                row.revoked_by = principal.name
            info = self._info(row, name)
        self.audit.record(
            "pii.revoke",
            actor=principal.name,
            target=info.user,
            client=client,
            detail={"grant": info.id, "table": info.table, "kind": info.kind},
        )
        return info

    # -- everyone --------------------------------------------------------------------------

    def list_grants(
        self, principal: Acting, *, user: str | None = None, everything: bool = False
    ) -> list[GrantInfo]:
        """Active grants, newest first (``everything``: expired and revoked ones too). An admin
        sees everyone's (or ``user``'s); anyone else only their own."""
        if principal.role != "admin":
            if user is not None and user != principal.name:
                raise PermissionDenied(
                    f"{principal.name} ({principal.role}) may not list the grants of {user}: "
                    "it needs admin"
                )
            user = principal.name
        query = (
            select(PiiGrant, User.name)
            .join(User, User.id == PiiGrant.user_id)
            .order_by(PiiGrant.id.desc())
        )
        if user is not None:
            query = query.where(User.name == user)
        if not everything:
            query = query.where(PiiGrant.revoked_at.is_(None), PiiGrant.expires_at > _now())
        with self.db.session() as session:
            return [self._info(row, name) for row, name in session.execute(query)]

    def may_see_raw(self, principal: Acting, table: str, kind: PiiKind | str) -> bool:
        """Whether ``principal`` may read ``kind`` in ``table`` raw, on the server: never a
        viewer; anyone else only with an active grant on the table or on the kind."""
        return self._granted(principal, table, kind, export=False)

    def may_export_raw(self, principal: Acting, table: str, kind: PiiKind | str) -> bool:
        """Whether raw values may also leave the server (a remote client, a download): the
        same, with a grant that allows export."""
        return self._granted(principal, table, kind, export=True)

    def _granted(self, principal: Acting, table: str, kind: PiiKind | str, export: bool) -> bool:
        tables, kinds = self.raw_scope(principal, export=export)
        return table_key(table) in tables or PiiKind(kind).value in kinds

    def raw_scope(self, principal: Acting, *, export: bool) -> tuple[set[str], set[str]]:
        """The tables and the kinds ``principal`` may read raw now (``export``: also off the
        server), from their active grants in one query: nothing for a viewer."""
        if principal.role not in ("admin", "scientist"):
            return set(), set()
        query = (
            select(PiiGrant.table_name, PiiGrant.kind)
            .join(User, User.id == PiiGrant.user_id)
            .where(
                User.name == principal.name,
                User.disabled.is_(False),
                User.role != "viewer",
                PiiGrant.revoked_at.is_(None),
                PiiGrant.expires_at > _now(),
            )
        )
        if export:
            query = query.where(PiiGrant.export.is_(True))
        with self.db.session() as session:
            rows = session.execute(query).all()
        return {t for t, _ in rows if t}, {k for _, k in rows if k}

    @staticmethod
    def _info(row: PiiGrant, user: str) -> GrantInfo:
        return GrantInfo(
            id=row.id,
            user=user,
            table=row.table_name,
            kind=row.kind,
            reason=row.reason,
            export=bool(row.export),
            granted_by=row.granted_by,
            created_at=_aware(row.created_at),
            expires_at=_aware(row.expires_at),
            revoked_at=_aware(row.revoked_at) if row.revoked_at is not None else None,
            revoked_by=row.revoked_by,
        )


def grants_of(workbench: object) -> PiiGrants:
    """The raw-access grants of a workbench."""
    wb = workbench
    return PiiGrants(
        wb.db,  # type: ignore[attr-defined]
        wb.audit,  # type: ignore[attr-defined]
        max_days=wb.settings.pii.max_grant_days,  # type: ignore[attr-defined]
    )


__all__ = ["Acting", "GrantInfo", "PiiGrants", "Recorder", "grants_of", "table_key"]
