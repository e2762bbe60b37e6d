"""API tokens: ``atl_<key>_<secret>``, shown once, stored as a digest, revocable, expiring."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from atelier.backends.metadata import ApiToken, Database, User
from atelier.backends.metadata.models import utcnow
from atelier.errors import InvalidInput, NotFound
from atelier.services.auth.principal import Principal
from atelier.services.auth.secrets import digest, new_secret, same

PREFIX = "atl"
#: Token use is written to the audit log at most this often per token, not on every request.
AUDIT_EVERY = timedelta(minutes=5)


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

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > utcnow()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.__dict__)
        for field in ("created_at", "expires_at", "revoked_at", "last_used_at"):
            data[field] = data[field].isoformat() if data[field] else None
        data["active"] = self.active
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
                expires_at=utcnow() + timedelta(days=days),
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

    def authenticate(self, plaintext: str) -> TokenUse | None:
        prefix, _, rest = plaintext.partition("_")
        key, _, secret = rest.partition("_")
        if prefix != PREFIX or not key or not secret:
            return None
        now = utcnow()
        with self.db.session() as session:
            row = session.execute(
                select(ApiToken, User).join(User).where(ApiToken.key == key)
            ).first()
            if row is None:
                return None
            token, user = row
            if (
                not same(token.secret_hash, digest(secret))
                or token.revoked_at is not None
                or token.expires_at <= now
                or user.disabled
            ):
                return None
            audit = token.last_used_at is None or now - token.last_used_at >= AUDIT_EVERY
            if audit:
                token.last_used_at = now
            return TokenUse(Principal(user.id, user.name, user.role, "token"), key, audit)
