"""Device sign-in: ``atelier login URL`` on a laptop, confirmed by a signed-in person.

1. The device asks for a code (:meth:`DeviceLogins.start`, no credentials needed): it gets a
   secret *device code* it keeps, and a short *user code* (``BCDF-GHJK``) to show.
2. The person opens the portal's confirmation page while signed in (a web session: a token
   cannot confirm) and confirms or denies that user code (:meth:`DeviceLogins.confirm`).
3. The device polls with its device code (:meth:`DeviceLogins.poll`); once confirmed it
   receives, once, a personal token of the person who confirmed, named after the device.

Codes live a few minutes and are used once; only their digests are stored. A wrong user code
counts against the person and their address in the sign-in back-off; starting sign-ins is
limited per client address.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from atelier.backends.metadata import Database, User
from atelier.backends.metadata.models import DeviceLogin, utcnow
from atelier.errors import AtelierError, InvalidInput, NotFound, PermissionDenied
from atelier.services.auth.audit import AuditLog
from atelier.services.auth.principal import Principal
from atelier.services.auth.secrets import digest, new_secret
from atelier.services.auth.throttle import Throttle, TooManyAttempts
from atelier.services.auth.tokens import Tokens

#: No vowels (no words), no look-alikes (0/O, 1/I/L): 20**8 codes.
ALPHABET = "BCDFGHJKMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
LIFETIME = timedelta(minutes=10)
#: Seconds a device waits between polls.
INTERVAL = 1
#: Sign-ins waiting for confirmation that one client address may have at a time.
PENDING_PER_CLIENT = 10


class Gone(AtelierError):
    """The device code expired, was denied or was already used."""

    status_code = 410


@dataclass(frozen=True)
class Started:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


@dataclass(frozen=True)
class Pending:
    """What the confirmation page shows about a code before the person confirms it."""

    name: str
    client: str | None
    user_code: str


@dataclass(frozen=True)
class Approved:
    token: str
    key: str
    user: str
    role: str
    expires_at: str


def normalize(user_code: str) -> str:
    """``bcdf ghjk``, ``BCDF-GHJK``, ``bcdfghjk`` → ``BCDFGHJK``."""
    return "".join(ch for ch in user_code.upper() if ch.isalnum())


def show(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class DeviceLogins:
    def __init__(
        self,
        db: Database,
        tokens: Tokens,
        audit: AuditLog,
        throttle: Throttle,
        *,
        token_days: int,
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.audit = audit
        self.throttle = throttle
        self.token_days = token_days

    def start(self, name: str, client: str | None) -> Started:
        """A new sign-in for the device ``name``, started from the address ``client``."""
        name = " ".join(name.split())
        if not 1 <= len(name) <= 64 or not name.isprintable():
            raise InvalidInput("device name must be 1 to 64 printable characters")
        now = utcnow()
        device_code = new_secret()
        user_code = "".join(secrets.choice(ALPHABET) for _ in range(USER_CODE_LENGTH))
        with self.db.session() as session:
            session.execute(delete(DeviceLogin).where(DeviceLogin.expires_at <= now))
            pending = session.scalar(
                select(func.count())
                .select_from(DeviceLogin)
                .where(DeviceLogin.client == client, DeviceLogin.used_at.is_(None))
            )
            if (pending or 0) >= PENDING_PER_CLIENT:
                raise TooManyAttempts(LIFETIME.total_seconds() / PENDING_PER_CLIENT)
            session.add(
                DeviceLogin(
                    device_hash=digest(device_code),
                    user_code_hash=digest(user_code),
                    name=name,
                    client=client[:128] if client else None,
                    expires_at=now + LIFETIME,
                )
            )
        return Started(device_code, show(user_code), int(LIFETIME.total_seconds()), INTERVAL)

    def _pending(self, session: object, user_code: str) -> DeviceLogin | None:
        code = normalize(user_code)
        if len(code) != USER_CODE_LENGTH:
            return None
        found: DeviceLogin | None = session.scalar(  # type: ignore[attr-defined]
            select(DeviceLogin).where(DeviceLogin.user_code_hash == digest(code))
        )
        if (
            found is None
            or found.expires_at <= utcnow()
            or found.approved_at is not None
            or found.denied_at is not None
        ):
            return None
        return found

    def _session_only(self, principal: Principal) -> None:
        if principal.via != "session":
            raise PermissionDenied(
                "a device sign-in is confirmed in the portal, signed in with your password"
            )

    def describe(self, user_code: str, principal: Principal, client: str) -> Pending:
        """The device waiting behind ``user_code``, for the confirmation page. A wrong code
        counts as a failed guess (NotFound)."""
        self._session_only(principal)
        keys = [("device", principal.name), ("client", client)]
        attempt = self.throttle.begin(keys)
        with self.db.session() as session:
            found = self._pending(session, user_code)
            shown = Pending(found.name, found.client, show(normalize(user_code))) if found else None
        if shown is None:
            self.throttle.failed(attempt, actor=principal.name, client=client)
            self.audit.record(
                "device.confirm",
                actor=principal.name,
                success=False,
                client=client,
                detail={"reason": "unknown, expired or used code"},
            )
            raise NotFound(f"no sign-in waits for the code {user_code.strip()[:16]!r}")
        self.throttle.succeeded(attempt)
        return shown

    def confirm(self, user_code: str, principal: Principal, client: str, *, allow: bool) -> str:
        """Confirm (``allow``) or deny the sign-in of ``user_code`` for ``principal``: the
        device then gets a token of theirs. Returns the device's name."""
        self._session_only(principal)
        keys = [("device", principal.name), ("client", client)]
        attempt = self.throttle.begin(keys)
        now = utcnow()
        with self.db.session() as session:
            found = self._pending(session, user_code)
            if found is not None:
                # Conditional: two people confirming the same code cannot both win.
                claimed = session.execute(
                    update(DeviceLogin)
                    .where(
                        DeviceLogin.id == found.id,
                        DeviceLogin.approved_at.is_(None),
                        DeviceLogin.denied_at.is_(None),
                    )
                    .values(
                        user_id=principal.user_id,
                        **({"approved_at": now} if allow else {"denied_at": now}),
                    )
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    found = None
            name = found.name if found is not None else None
        action = "device.confirm" if allow else "device.deny"
        if name is None:
            self.throttle.failed(attempt, actor=principal.name, client=client)
            self.audit.record(
                action,
                actor=principal.name,
                success=False,
                client=client,
                detail={"reason": "unknown, expired or used code"},
            )
            raise NotFound(f"no sign-in waits for the code {user_code.strip()[:16]!r}")
        self.throttle.succeeded(attempt)
        self.audit.record(action, actor=principal.name, target=name, client=client)
        return name

    def poll(self, device_code: str, client: str) -> Approved | None:
        """None while nobody has confirmed; the token once confirmed (used once)."""
        attempt = self.throttle.begin([("client", client)])
        with self.db.session() as session:
            known = session.scalar(
                select(DeviceLogin.id).where(DeviceLogin.device_hash == digest(device_code))
            )
        if known is None:
            # A guessed device code: it counts against the address like a wrong password.
            self.throttle.failed(attempt, client=client)
            raise NotFound("unknown device code: start again with `atelier login URL`")
        self.throttle.succeeded(attempt)
        now = utcnow()
        with self.db.session() as session:
            row = session.get(DeviceLogin, known)
            if row is None or row.used_at is not None:
                raise Gone("this device code was already used: start again")
            if row.denied_at is not None:
                raise Gone("the sign-in was denied in the portal")
            if row.expires_at <= now:
                raise Gone("the code expired before it was confirmed: start again")
            pending = row.approved_at is None
            row.last_polled_at = now
        if pending:
            return None
        with self.db.session() as session:
            row = session.get(DeviceLogin, known)
            user = session.get(User, row.user_id) if row is not None else None
            if row is None or user is None:
                raise Gone("this device code was already used: start again")
            # Conditional: two polls racing for the same code cannot both get a token.
            claimed = session.execute(
                update(DeviceLogin)
                .where(DeviceLogin.id == row.id, DeviceLogin.used_at.is_(None))
                .values(used_at=now)
            )
            if claimed.rowcount != 1 or user is None or user.disabled:  # type: ignore[attr-defined]
                raise Gone("this device code was already used: start again")
            name, user_name, role = row.name, user.name, user.role
        info, token = self.tokens.create(user_name, name, self.token_days)
        self.audit.record(
            "token.create",
            actor=user_name,
            target=info.key,
            client=client,
            detail={"via": "device", "device": name},
        )
        return Approved(token, info.key, user_name, role, info.expires_at.isoformat())
