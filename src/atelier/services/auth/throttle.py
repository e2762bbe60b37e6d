"""Back-off after failed sign-ins and token secrets: per account, per token key, per client.

A few failures are free. Past them, every failure locks the account (or token key, or client
address) for twice as long as the one before, up to a cap: a guessed password then costs days,
not seconds. While a lock holds, attempts are refused *before* the secret is checked, so a
refusal tells nothing about whether the guess was right, and an unknown user name is counted
and locked exactly like a real one (no user enumeration). A new lock is written to the audit
log once; the attempts it refuses are not.

The counters live in the metadata database, so they hold across restarts and are shared by
every server process. A password attempt is counted as a failure *before* the password is
checked (and given back when it was right): a burst of parallel guesses cannot all slip in
before the first failure is written.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from atelier.backends.metadata import ApiToken, Database
from atelier.backends.metadata.models import SignInThrottle, utcnow
from atelier.errors import AtelierError
from atelier.services.auth.audit import AuditLog
from atelier.services.auth.tokens import (
    CALLER_COLUMNS,
    CALLER_FROM,
    Tokens,
    TokenUse,
    accepted,
    is_guess,
    last_use_due,
    parse_token,
)

#: (kind, key): ``("account", "alice")``, ``("token", "<token key>")``, ``("client", "<ip>")``.
Key = tuple[str, str]
#: Failures older than this, with no lock since, are forgotten.
FORGET_AFTER = timedelta(hours=24)
KEY_LENGTH = 128
#: Callers (token key, client) whose row :meth:`Throttle.quick_token` keeps per connection.
QUICK_ROWS = 1024


class TooManyAttempts(AtelierError):
    """Refused because of earlier failed attempts; ``retry_after`` is in whole seconds."""

    status_code = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed attempts: try again in {wait_text(self.retry_after)}")


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def client_key(peer: str | None, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The address a request comes from: the socket peer, or, only when the peer is one of the
    ``trusted`` proxies, the nearest address in ``X-Forwarded-For`` that is not a proxy itself.
    (A client can write anything into that header; only what our own proxy appended counts.)"""
    address = peer or "unknown"
    if not trusted or not _is_trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in (forwarded_for or "").split(",") if h.strip()]):
        if not _is_trusted(hop, trusted):
            return hop[:KEY_LENGTH]
    return address


def _is_trusted(address: str, trusted: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address in trusted
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass
class Attempt:
    """An attempt counted in advance (see the module docstring); end it with
    :meth:`Throttle.failed` or :meth:`Throttle.succeeded`."""

    keys: list[Key]
    #: The locks this attempt set, by key: (failures, locked until, for how long).
    locks: dict[Key, tuple[int, datetime, timedelta]] = field(default_factory=dict)


class Throttle:
    def __init__(
        self,
        db: Database,
        *,
        free: int,
        client_free: int,
        max_lock: timedelta,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.free = free
        self.client_free = client_free
        self.max_lock = max_lock
        self.audit = audit
        #: Replaceable, so that tests can let a lock expire without sleeping.
        self.clock = clock

    def lock_for(self, kind: str, failures: int) -> timedelta | None:
        """How long ``failures`` failures in a row lock a key of ``kind`` (None: not at all)."""
        free = self.client_free if kind == "client" else self.free
        if failures <= free:
            return None
        over = failures - free
        seconds = self.max_lock.total_seconds()
        return timedelta(seconds=seconds if over >= 40 else min(2.0**over, seconds))

    def check(self, keys: Iterable[Key]) -> None:
        """Raise :class:`TooManyAttempts` when one of ``keys`` is locked now."""
        now = self.clock()
        wanted = [_clip(key) for key in keys]
        with self.db.session() as session:
            until = session.scalar(
                select(SignInThrottle.locked_until)
                .where(
                    or_(
                        *(
                            and_(SignInThrottle.kind == k, SignInThrottle.key == v)
                            for k, v in wanted
                        )
                    ),
                    SignInThrottle.locked_until > now,
                )
                .order_by(SignInThrottle.locked_until.desc())
                .limit(1)
            )
        if until is not None:
            raise TooManyAttempts((until - now).total_seconds())

    def begin(self, keys: Iterable[Key]) -> Attempt:
        """Count an attempt as a failure in advance; raise :class:`TooManyAttempts` (counting
        nothing) when one of ``keys`` is locked."""
        wanted = list(dict.fromkeys(_clip(key) for key in keys))
        try:
            return self._begin(wanted)
        except IntegrityError:
            # Another process inserted the same new key at the same moment: count again.
            return self._begin(wanted)

    def _begin(self, keys: list[Key]) -> Attempt:
        now = self.clock()
        attempt = Attempt(keys)
        with self.db.session() as session:
            for kind, key in keys:
                where = (SignInThrottle.kind == kind, SignInThrottle.key == key)
                # Writing first takes the row's (or SQLite's) write lock before reading, so two
                # attempts cannot both read the same count.
                changed = session.execute(
                    update(SignInThrottle)
                    .where(
                        *where,
                        or_(
                            SignInThrottle.locked_until.is_(None),
                            SignInThrottle.locked_until <= now,
                        ),
                    )
                    .values(
                        failures=case(
                            (SignInThrottle.last_failure_at < now - FORGET_AFTER, 1),
                            else_=SignInThrottle.failures + 1,
                        ),
                        last_failure_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                row = session.scalar(select(SignInThrottle).where(*where))
                if changed.rowcount == 0:  # type: ignore[attr-defined]
                    if row is not None and row.locked_until is not None:
                        raise TooManyAttempts((row.locked_until - now).total_seconds())
                    session.execute(
                        delete(SignInThrottle).where(
                            SignInThrottle.last_failure_at < now - FORGET_AFTER,
                            or_(
                                SignInThrottle.locked_until.is_(None),
                                SignInThrottle.locked_until <= now,
                            ),
                        )
                    )
                    row = SignInThrottle(kind=kind, key=key, failures=1, last_failure_at=now)
                    session.add(row)
                    session.flush()
                assert row is not None
                lock = self.lock_for(kind, row.failures)
                if lock is not None:
                    row.locked_until = now + lock
                    attempt.locks[(kind, key)] = (row.failures, row.locked_until, lock)
        return attempt

    def failed(
        self, attempt: Attempt, *, actor: str | None = None, client: str | None = None
    ) -> None:
        """The attempt was wrong: it stays counted; the locks it set go to the audit log."""
        if self.audit is None:
            return
        for (kind, key), (failures, until, length) in attempt.locks.items():
            self.audit.record(
                "sign_in.locked",
                actor=(key if kind == "account" else actor or None),
                target=f"{kind}:{key}"[:255],
                success=False,
                client=client,
                detail={
                    "kind": kind,
                    "failures": failures,
                    "seconds": round(length.total_seconds()),
                    "until": until.isoformat(),
                },
            )

    def succeeded(self, attempt: Attempt, *, reset: Iterable[Key] = ()) -> None:
        """The attempt was right: the keys in ``reset`` (the account) start afresh; the others
        (the client) get back the failure counted in advance and the lock it set."""
        cleared = {_clip(key) for key in reset}
        with self.db.session() as session:
            for kind, key in attempt.keys:
                where = (SignInThrottle.kind == kind, SignInThrottle.key == key)
                if (kind, key) in cleared:
                    session.execute(delete(SignInThrottle).where(*where))
                    continue
                row = session.scalar(select(SignInThrottle).where(*where))
                if row is None:
                    continue
                row.failures = max(0, row.failures - 1)
                mine = attempt.locks.get((kind, key))
                if mine is not None and row.locked_until == mine[1]:
                    row.locked_until = None
                if row.failures == 0 and row.locked_until is None:
                    session.delete(row)

    def authenticate_token(self, tokens: Tokens, plaintext: str, client: str) -> TokenUse | None:
        """``tokens.authenticate`` behind the back-off, for every place that takes bearer
        tokens: a locked token key or client is refused (:class:`TooManyAttempts`) before the
        secret is checked; a known key with a wrong secret counts as a failed guess.

        One statement reads the locks and the token with its owner (:data:`_LOCKED_CALLER`),
        read afresh on every call as :meth:`Tokens.authenticate` reads them."""
        token = plaintext.strip()
        parsed = parse_token(token)
        if parsed is None or tokens.db.engine is not self.db.engine:
            return self._authenticate_apart(tokens, token, client)
        key, secret = parsed
        now = self.clock()
        with self.db.engine.connect() as connection:
            row = _locked_caller(connection, now, client, key)
            if row.locked_until is not None:
                raise TooManyAttempts((row.locked_until - now).total_seconds())
            use = tokens.use(connection, row, key, secret)
        if use is None and is_guess(row, secret):
            self.fail([("token", key), ("client", client)], client=client)
        return use

    def quick_token(self, tokens: Tokens, plaintext: str, client: str) -> TokenUse | None:
        """:meth:`authenticate_token`'s answer where giving it writes nothing, read from the
        event loop's own thread through :meth:`Database.loop_reader` (a SQLite file): a live
        token of an enabled owner, neither it nor ``client`` locked, its use recorded less than
        ``AUDIT_EVERY`` ago. The same statement, its row kept while no connection has committed
        to the file since (:meth:`Database.loop_memo`), so a revoked token is refused at once
        and a steady caller costs one ``PRAGMA`` a request. None in every other case, and when
        the file is locked just then: :meth:`authenticate_token`, in a worker thread, decides
        those (it may refuse, count a guess or record the use)."""
        token = plaintext.strip()
        parsed = parse_token(token)
        if parsed is None or tokens.db.engine is not self.db.engine:
            return None
        memo = self.db.loop_memo()
        if memo is None:
            return None
        key, secret = parsed
        version, rows = memo
        kept = rows.get((key, client))
        if kept is not None and kept[0] == version:
            # Nothing committed since: the same row (a lock is only ever added by a write).
            row = kept[1]
        else:
            try:
                with self.db.loop_reader().connect() as connection:  # type: ignore[union-attr]
                    row = _locked_caller(connection, self.clock(), client, key)
            except OperationalError:  # locked just now: the worker thread waits for it
                return None
            if row.locked_until is not None:
                return None
            if len(rows) >= QUICK_ROWS:
                rows.clear()
            rows[(key, client)] = (version, row)
        checked = utcnow()
        principal = accepted(row, secret, checked)
        if principal is None or last_use_due(row, checked):
            return None
        return TokenUse(principal, key, False)

    def _authenticate_apart(self, tokens: Tokens, token: str, client: str) -> TokenUse | None:
        """:meth:`authenticate_token` in two steps: for what is not an Atelier token (its locks
        are checked all the same), or tokens kept in another database."""
        _, _, rest = token.partition("_")
        key = rest.partition("_")[0]
        self.check([("client", client)] + ([("token", key)] if key else []))
        use = tokens.authenticate(token)
        if use is None:
            _, guessed = tokens.refusal(token)
            if guessed:
                self.fail([("token", guessed), ("client", client)], client=client)
        return use

    def fail(
        self, keys: Iterable[Key], *, actor: str | None = None, client: str | None = None
    ) -> None:
        """Count one failure of each of ``keys`` now (when the attempt was already refused)."""
        try:
            attempt = self.begin(keys)
        except TooManyAttempts:
            return
        self.failed(attempt, actor=actor, client=client)


def _clip(key: Key) -> Key:
    return key[0], key[1][:KEY_LENGTH]


#: The latest lock now held on a client or a token key: one row always (NULL: none).
_HELD = (
    select(func.max(SignInThrottle.locked_until).label("locked_until"))
    .where(
        SignInThrottle.locked_until > bindparam("now"),
        or_(
            and_(SignInThrottle.kind == "client", SignInThrottle.key == bindparam("client")),
            and_(SignInThrottle.kind == "token", SignInThrottle.key == bindparam("token")),
        ),
    )
    .subquery("held")
)
#: The locks and the caller of a bearer token, in one statement: the lock row joined to the
#: token and its owner (their columns NULL when the key is unknown).
_LOCKED_CALLER = select(_HELD.c.locked_until, *CALLER_COLUMNS).select_from(
    _HELD.outerjoin(CALLER_FROM, ApiToken.key == bindparam("key"))
)


def _locked_caller(connection: Connection, now: datetime, client: str, key: str) -> Any:
    """The row of :data:`_LOCKED_CALLER` for token ``key`` from ``client``."""
    return connection.execute(
        _LOCKED_CALLER,
        {"now": now, "client": client[:KEY_LENGTH], "token": key[:KEY_LENGTH], "key": key},
    ).one()
