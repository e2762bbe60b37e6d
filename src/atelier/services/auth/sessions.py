"""Web sessions (behind the portal's signed cookie) and one-time login links."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, delete, select, update

from atelier.backends.metadata import Database, LoginLink, User, WebSession
from atelier.backends.metadata.models import utcnow
from atelier.errors import NotFound
from atelier.services.auth.principal import Principal
from atelier.services.auth.secrets import digest, new_secret

#: Who calls with a session: the columns the check needs, session and user in one statement.
_CALLER = (
    select(
        WebSession.expires_at,
        WebSession.csrf_token,
        User.id.label("user_id"),
        User.name,
        User.role,
        User.disabled,
    )
    .join(User, User.id == WebSession.user_id)
    .where(WebSession.secret_hash == bindparam("digest"))
)


class Sessions:
    def __init__(self, db: Database, *, hours: float, link_minutes: int) -> None:
        self.db = db
        self.lifetime = timedelta(hours=hours)
        self.link_lifetime = timedelta(minutes=link_minutes)

    def start(self, user_id: int) -> str:
        """Open a session; returns its secret (the cookie carries it, signed)."""
        secret = new_secret()
        now = utcnow()
        with self.db.session() as session:
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            session.add(
                WebSession(
                    secret_hash=digest(secret),
                    user_id=user_id,
                    csrf_token=new_secret(24),
                    expires_at=now + self.lifetime,
                )
            )
        return secret

    def authenticate(self, secret: str) -> Principal | None:
        """The caller behind a session cookie, read afresh on every request (an ended session
        or a disabled user is refused at once): one statement selecting only what it needs."""
        with self.db.engine.connect() as connection:
            row = connection.execute(_CALLER, {"digest": digest(secret)}).first()
        if row is None or row.expires_at <= utcnow() or row.disabled:
            return None
        return Principal(row.user_id, row.name, row.role, "session", row.csrf_token)

    def end(self, secret: str) -> None:
        with self.db.session() as session:
            session.execute(delete(WebSession).where(WebSession.secret_hash == digest(secret)))

    def create_link(self, user: str) -> str:
        """A one-time login code for ``user``, valid for a few minutes."""
        code = new_secret()
        with self.db.session() as session:
            owner = session.scalar(select(User).where(User.name == user))
            if owner is None:
                raise NotFound(f"user {user!r} not found")
            session.add(
                LoginLink(
                    secret_hash=digest(code),
                    user_id=owner.id,
                    expires_at=utcnow() + self.link_lifetime,
                )
            )
        return code

    def redeem_link(self, code: str) -> Principal | None:
        """Use a login code once; None when unknown, used or expired."""
        now = utcnow()
        with self.db.session() as session:
            row = session.execute(
                select(LoginLink, User).join(User).where(LoginLink.secret_hash == digest(code))
            ).first()
            if row is None:
                return None
            link, user = row
            if link.used_at is not None or link.expires_at <= now or user.disabled:
                return None
            # A conditional update, so two tabs racing for the same link cannot both win.
            claimed = session.execute(
                update(LoginLink)
                .where(LoginLink.id == link.id, LoginLink.used_at.is_(None))
                .values(used_at=now)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return Principal(user.id, user.name, user.role, "session")
