"""API tokens: ``atl_<key>_<secret>``, shown once, stored as a digest, revocable, expiring.

A person's token carries their full rights. Tokens made for code (:meth:`Tokens.create_for`:
a hosted app, a job, a notebook server) are *scoped* (see :mod:`.scopes`), labelled with what
they are for ("app churn", "job 12", "notebook ada"), short-lived, and revoked by that label
in the database, so that a revocation survives a restart of the server.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from atelier.backends.metadata import ApiToken, Database, User
from atelier.backends.metadata.models import utcnow
from atelier.errors import InvalidInput, NotFound
from atelier.services.auth import scopes as scope_codec
from atelier.services.auth.principal import Principal
from atelier.services.auth.secrets import digest, new_secret, same

PREFIX = "atl"
#: Token use is written to the audit log at most this often per token, not on every request.
AUDIT_EVERY = timedelta(minutes=5)

#: The token and its owner: where the caller check reads.
CALLER_FROM = ApiToken.__table__.join(User.__table__, User.id == ApiToken.user_id)
#: The columns the check needs (never the owner's password hash).
CALLER_COLUMNS = (
    ApiToken.id,
    ApiToken.secret_hash,
    ApiToken.name,
    ApiToken.expires_at,
    ApiToken.revoked_at,
    ApiToken.last_used_at,
    ApiToken.scopes,
    User.id.label("user_id"),
    User.name.label("user_name"),
    User.role,
    User.disabled,
)
#: Who calls with a token key: token and owner in one statement.
_CALLER = select(*CALLER_COLUMNS).select_from(CALLER_FROM).where(ApiToken.key == bindparam("key"))


def parse_token(plaintext: str) -> tuple[str, str] | None:
    """``(key, secret)`` of ``atl_<key>_<secret>``; None for anything else."""
    prefix, _, rest = plaintext.partition("_")
    key, _, secret = rest.partition("_")
    if prefix != PREFIX or not key or not secret:
        return None
    return key, secret


def is_guess(row: Any, secret: str) -> bool:
    """Whether ``row`` (of :data:`CALLER_COLUMNS`) is a token whose secret is not ``secret``:
    a wrong guess at a key that exists, which the back-off counts."""
    return row is not None and row.id is not None and not same(row.secret_hash, digest(secret))


def accepted(row: Any, secret: str, now: datetime) -> Principal | None:
    """The caller ``row`` (of :data:`CALLER_COLUMNS`; None or NULLs for an unknown key) names
    when ``secret`` is its token's and the token is live and its owner enabled; None
    otherwise. Reads and writes nothing."""
    if (
        row is None
        or row.id is None
        or not same(row.secret_hash, digest(secret))
        or row.revoked_at is not None
        or row.expires_at <= now
        or row.disabled
    ):
        return None
    scopes = scope_codec.decode(row.scopes)
    return Principal(
        row.user_id,
        row.user_name,
        row.role,
        "token",
        scopes=scopes,
        label=row.name if scopes is not None else None,
    )


def last_use_due(row: Any, now: datetime) -> bool:
    """Whether the token's "last used" time is to be written (and the use audited) now."""
    return bool(row.last_used_at is None or now - row.last_used_at >= AUDIT_EVERY)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    key: str
    name: str
    user: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    #: None for a person's token; the scopes of a token made for code.
    scopes: frozenset[str] | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.__dict__)
        for field in ("created_at", "expires_at", "revoked_at", "last_used_at"):
            data[field] = data[field].isoformat() if data[field] else None
        data["active"] = self.active
        data["scopes"] = sorted(self.scopes) if self.scopes is not None else None
        return data


def _info(token: ApiToken, user_name: str) -> TokenInfo:
    return TokenInfo(
        token.id,
        token.key,
        token.name,
        user_name,
        token.created_at,
        token.expires_at,
        token.revoked_at,
        token.last_used_at,
        scope_codec.decode(token.scopes),
    )


@dataclass(frozen=True)
class TokenUse:
    principal: Principal
    token_key: str
    #: True when this use should be written to the audit log (first use in a while).
    audit: bool


class Tokens:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, user: str, name: str, days: int) -> tuple[TokenInfo, str]:
        """Make a token for ``user``; returns its record and the plaintext, shown only now."""
        if not 1 <= days <= 3650:
            raise InvalidInput(f"token lifetime must be 1 to 3650 days (got {days})")
        return self._create(user, name, timedelta(days=days), None)

    def create_for(
        self, user: str, label: str, scopes: frozenset[str], lifetime: timedelta
    ) -> tuple[TokenInfo, str]:
        """A scoped token of ``user`` for code, named ``label`` ("app churn", "job 12"),
        living ``lifetime``. Earlier tokens of the same label are revoked: one live token
        per app, job or notebook server."""
        checked = scope_codec.check_scopes(scopes)
        if not timedelta(minutes=1) <= lifetime <= timedelta(days=3650):
            raise InvalidInput(f"token lifetime must be 1 minute to 3650 days (got {lifetime})")
        self.revoke_label(label)
        return self._create(user, label, lifetime, checked)

    def _create(
        self, user: str, name: str, lifetime: timedelta, scopes: frozenset[str] | None
    ) -> tuple[TokenInfo, str]:
        if not name.strip() or len(name) > 128:
            raise InvalidInput("token name must be 1 to 128 characters")
        key, secret = secrets.token_hex(6), new_secret()
        with self.db.session() as session:
            owner = session.scalar(select(User).where(User.name == user))
            if owner is None:
                raise NotFound(f"user {user!r} not found")
            token = ApiToken(
                key=key,
                secret_hash=digest(secret),
                user_id=owner.id,
                name=name.strip(),
                expires_at=utcnow() + lifetime,
                scopes=scope_codec.encode(scopes),
            )
            session.add(token)
            session.flush()
            return _info(token, owner.name), f"{PREFIX}_{key}_{secret}"

    def list(self, user: str | None = None) -> list[TokenInfo]:
        query = select(ApiToken, User.name).join(User).order_by(ApiToken.id)
        if user is not None:
            query = query.where(User.name == user)
        with self.db.session() as session:
            return [_info(token, name) for token, name in session.execute(query)]

    def revoke(self, key: str, *, owner: str | None = None) -> TokenInfo:
        """Revoke a token by its key; with ``owner``, only that user's tokens are found."""
        with self.db.session() as session:
            query = select(ApiToken, User.name).join(User).where(ApiToken.key == key)
            if owner is not None:
                query = query.where(User.name == owner)
            row = session.execute(query).first()
            if row is None:
                raise NotFound(f"token {key!r} not found")
            token, name = row
            if token.revoked_at is None:
                token.revoked_at = utcnow()
            return _info(token, name)

    def revoke_label(self, label: str, *, prefix: bool = False) -> int:
        """Revoke the live code tokens named ``label`` (with ``prefix``: whose name starts
        with it); a person's tokens are never touched. Returns how many were revoked."""
        name = (
            ApiToken.name.startswith(label, autoescape=True) if prefix else (ApiToken.name == label)
        )
        with self.db.session() as session:
            result = session.execute(
                update(ApiToken)
                .where(name, ApiToken.scopes.is_not(None), ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def extend(self, key: str, lifetime: timedelta) -> None:
        """Push a live code token's expiry to ``lifetime`` from now (its code still runs)."""
        with self.db.session() as session:
            session.execute(
                update(ApiToken)
                .where(
                    ApiToken.key == key,
                    ApiToken.scopes.is_not(None),
                    ApiToken.revoked_at.is_(None),
                )
                .values(expires_at=utcnow() + lifetime)
            )

    def authenticate(self, plaintext: str) -> TokenUse | None:
        """The caller behind ``plaintext``, read afresh on every call (a revoked token or a
        disabled owner is refused at once): one statement, a join selecting only what the
        check needs. The "last used" time is written only when it is ``AUDIT_EVERY`` old,
        by an update conditional on that, so most requests write nothing, and of several
        racing requests only one writes and asks for an audit entry."""
        parsed = parse_token(plaintext)
        if parsed is None:
            return None
        key, secret = parsed
        # Core, not the ORM: no entities to build, no unit of work to flush on the hot path.
        with self.db.engine.connect() as connection:
            row = connection.execute(_CALLER, {"key": key}).first()
            return self.use(connection, row, key, secret)

    def use(self, connection: Connection, row: Any, key: str, secret: str) -> TokenUse | None:
        """The check of :meth:`authenticate` on ``row`` (of :data:`CALLER_COLUMNS`, read on
        ``connection`` for ``key`` just now; None or a row of NULLs when there is no such
        token): the caller, or None when refused; "last used" written on ``connection`` when
        due."""
        now = utcnow()
        principal = accepted(row, secret, now)
        if principal is None:
            return None
        audit = False
        if last_use_due(row, now):
            touched = connection.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == row.id,
                    or_(
                        ApiToken.last_used_at.is_(None),
                        ApiToken.last_used_at <= now - AUDIT_EVERY,
                    ),
                )
                .values(last_used_at=now)
            )
            connection.commit()
            audit = getattr(touched, "rowcount", 0) == 1
        return TokenUse(principal, key, audit)

    def refusal(self, plaintext: str) -> tuple[str, str | None]:
        """Why :meth:`authenticate` refuses ``plaintext``: a short reason, and the token's key
        when the key exists but the secret is wrong (a guess, for the back-off)."""
        prefix, _, rest = plaintext.partition("_")
        key, _, secret = rest.partition("_")
        if prefix != PREFIX or not key or not secret:
            return "not an Atelier token (atl_<key>_<secret>)", None
        with self.db.session() as session:
            row = session.execute(
                select(ApiToken, User).join(User).where(ApiToken.key == key)
            ).first()
        if row is None:
            return f"token {key} is unknown here", None
        token, user = row
        if not same(token.secret_hash, digest(secret)):
            return f"token {key}: wrong secret", key
        if token.revoked_at is not None:
            return f"token {key} was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC", None
        if token.expires_at <= utcnow():
            return f"token {key} expired on {token.expires_at:%Y-%m-%d %H:%M} UTC", None
        if user.disabled:
            return f"token {key} belongs to the disabled user {user.name}", None
        return "accepted", None
