"""Checking who calls is one statement per request, and reads the caller afresh every time.

With a bearer token the sign-in back-off's locks are read in that same statement.

The statements are counted on the engine (``before_cursor_execute``), so a second query sneaking
into the hot path (the owner read apart from the token, a "last used" read before its write)
fails here; revocation, disabling and ending a session must still refuse the very next call.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update

from atelier.backends.metadata import ApiToken, User
from atelier.backends.metadata.models import SignInThrottle, utcnow
from atelier.services.auth.throttle import TooManyAttempts
from atelier.services.auth.tokens import AUDIT_EVERY, TokenInfo
from atelier.services.workbench import Workbench


@contextmanager
def statements(workbench: Workbench, engine: Engine | None = None) -> Iterator[list[str]]:
    """The statements run on ``engine`` (the workers' engine by default) within the block."""
    engine = engine or workbench.db.engine
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def ada(workbench: Workbench) -> str:
    workbench.users.create("ada", "scientist", "a long enough password")
    return "ada"


def test_a_token_check_is_one_joined_select(workbench: Workbench, ada: str) -> None:
    _, plaintext = workbench.tokens.create(ada, "laptop", 30)
    with statements(workbench) as first:
        assert workbench.tokens.authenticate(plaintext) is not None
    # First use: the join, then the "last used" write (no read before it).
    assert [s.split()[0] for s in first] == ["select", "update"]
    for _ in range(3):
        with statements(workbench) as seen:
            use = workbench.tokens.authenticate(plaintext)
        assert use is not None and use.principal.name == ada and not use.audit
        assert len(seen) == 1, seen
    (query,) = seen
    assert query.startswith("select") and "join users" in query and "api_tokens" in query
    # Only the columns the check needs: never the owner's password hash.
    assert "password_hash" not in query and "created_at" not in query


def test_last_used_is_written_once_per_interval_without_a_read(
    workbench: Workbench, ada: str
) -> None:
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)
    stale = utcnow() - AUDIT_EVERY - timedelta(seconds=1)
    with workbench.db.session() as session:
        session.execute(update(ApiToken).where(ApiToken.key == info.key).values(last_used_at=stale))
    with statements(workbench) as seen:
        first = workbench.tokens.authenticate(plaintext)
        second = workbench.tokens.authenticate(plaintext)
    assert first is not None and first.audit
    assert second is not None and not second.audit
    assert [s.split()[0] for s in seen] == ["select", "update", "select"]
    with workbench.db.session() as session:
        used = session.scalar(select(ApiToken.last_used_at).where(ApiToken.key == info.key))
    assert used is not None and used > stale


def test_a_use_another_server_already_recorded_is_not_audited_twice(
    workbench: Workbench, ada: str
) -> None:
    # Two servers read the token as due at once; the one whose write lands second must not
    # audit again: the write is conditional on the time still being old.
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)

    raced: list[bool] = []

    def other_server_writes_first(_conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().lower().startswith("update") and not raced:
            raced.append(True)
            with workbench.db.engine.begin() as other:
                other.execute(
                    update(ApiToken).where(ApiToken.key == info.key).values(last_used_at=utcnow())
                )

    event.listen(workbench.db.engine, "before_cursor_execute", other_server_writes_first)
    try:
        use = workbench.tokens.authenticate(plaintext)
    finally:
        event.remove(workbench.db.engine, "before_cursor_execute", other_server_writes_first)
    assert raced and use is not None and not use.audit


def test_revoking_or_disabling_refuses_the_next_call(workbench: Workbench, ada: str) -> None:
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)
    assert workbench.tokens.authenticate(plaintext) is not None
    workbench.tokens.revoke(info.key)
    assert workbench.tokens.authenticate(plaintext) is None
    _, other = workbench.tokens.create(ada, "desk", 30)
    assert workbench.tokens.authenticate(other) is not None
    workbench.users.set_disabled(ada, True)
    assert workbench.tokens.authenticate(other) is None
    workbench.users.set_disabled(ada, False)
    assert workbench.tokens.authenticate(other) is not None


def test_a_session_check_is_one_select_and_reads_afresh(workbench: Workbench, ada: str) -> None:
    secret = workbench.sessions.start(workbench.users.get(ada).id)
    with statements(workbench) as seen:
        principal = workbench.sessions.authenticate(secret)
    assert principal is not None and principal.csrf_token
    assert len(seen) == 1 and "join users" in seen[0] and "password_hash" not in seen[0]
    # The flag alone (disabling through the service also ends the sessions): read afresh.
    with workbench.db.session() as session:
        session.execute(update(User).where(User.name == ada).values(disabled=True))
    assert workbench.sessions.authenticate(secret) is None
    with workbench.db.session() as session:
        session.execute(update(User).where(User.name == ada).values(disabled=False))
    assert workbench.sessions.authenticate(secret) is not None
    workbench.sessions.end(secret)
    assert workbench.sessions.authenticate(secret) is None


def test_a_kept_client_is_refused_right_after_revocation(
    workbench: Workbench, ada: str, client: Any
) -> None:
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    workbench.tokens.revoke(info.key)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


# -- the bearer check behind the sign-in back-off (what every request with a token runs) --

CLIENT = "203.0.113.9"


def test_a_throttled_token_check_is_one_statement(workbench: Workbench, ada: str) -> None:
    _, plaintext = workbench.tokens.create(ada, "laptop", 30)
    throttle = workbench.throttle
    assert throttle.authenticate_token(workbench.tokens, plaintext, CLIENT) is not None
    for _ in range(3):
        with statements(workbench) as seen:
            use = throttle.authenticate_token(workbench.tokens, plaintext, CLIENT)
        assert use is not None and use.principal.name == ada and not use.audit
        assert len(seen) == 1, seen
    (query,) = seen
    # The locks, the token and its owner, read together.
    assert "sign_in_throttle" in query and "join users" in query and "api_tokens" in query
    assert "password_hash" not in query


def test_a_locked_key_or_client_is_refused_before_the_secret(
    workbench: Workbench, ada: str
) -> None:
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)
    throttle, tokens = workbench.throttle, workbench.tokens
    for _ in range(throttle.free + 1):
        throttle.fail([("token", info.key)])
    # The right secret from anywhere: the key is locked.
    for client in (CLIENT, "198.51.100.1"):
        with pytest.raises(TooManyAttempts):
            throttle.authenticate_token(tokens, plaintext, client)
    # Once the lock is over, the token works again.
    throttle.clock = lambda: utcnow() + timedelta(days=1)
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
    throttle.clock = utcnow

    _, other = tokens.create(ada, "desk", 30)
    for _ in range(throttle.client_free + 1):
        throttle.fail([("client", "198.51.100.2")])
    for token in (other, f"atl_{'0' * 12}_{'x' * 43}", "not-a-token"):
        with pytest.raises(TooManyAttempts) as refused:
            throttle.authenticate_token(tokens, token, "198.51.100.2")
        assert refused.value.retry_after >= 1
    assert throttle.authenticate_token(tokens, other, CLIENT) is not None


def test_a_wrong_secret_is_counted_an_unknown_key_is_not(workbench: Workbench, ada: str) -> None:
    info, _ = workbench.tokens.create(ada, "laptop", 30)
    throttle, tokens = workbench.throttle, workbench.tokens

    def failures() -> dict[tuple[str, str], int]:
        with workbench.db.session() as session:
            rows = session.execute(
                select(SignInThrottle.kind, SignInThrottle.key, SignInThrottle.failures)
            )
            return {(kind, key): count for kind, key, count in rows}

    assert throttle.authenticate_token(tokens, f"atl_{info.key}_{'x' * 43}", CLIENT) is None
    assert failures() == {("token", info.key): 1, ("client", CLIENT): 1}
    assert throttle.authenticate_token(tokens, f"atl_{'0' * 12}_{'x' * 43}", CLIENT) is None
    assert failures() == {("token", info.key): 1, ("client", CLIENT): 1}


def test_the_throttled_check_refuses_the_next_call_after_a_change(
    workbench: Workbench, ada: str
) -> None:
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)
    throttle, tokens = workbench.throttle, workbench.tokens
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
    tokens.revoke(info.key)
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is None
    info, plaintext = tokens.create(ada, "desk", 30)
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
    with workbench.db.session() as session:
        session.execute(
            update(ApiToken).where(ApiToken.key == info.key).values(expires_at=utcnow())
        )
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is None
    _, plaintext = tokens.create(ada, "phone", 30)
    workbench.users.set_disabled(ada, True)
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is None
    workbench.users.set_disabled(ada, False)
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
    # None of these refusals was a guess: nothing counted against the client.
    with workbench.db.session() as session:
        assert session.scalar(select(SignInThrottle.id)) is None


def test_the_quick_check_answers_only_where_the_full_one_would_write_nothing(
    workbench: Workbench, ada: str
) -> None:
    """``quick_token`` (read in an event loop's thread) gives the caller of a live token whose
    use is recorded; every case where the full check refuses, counts or records is left to it
    (None), and a change is seen on the very next call. A database server is read from
    worker threads only."""
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)
    throttle, tokens = workbench.throttle, workbench.tokens
    if workbench.db.engine.dialect.name != "sqlite":
        assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
        assert workbench.db.loop_reader() is None
        assert throttle.quick_token(tokens, plaintext, CLIENT) is None
        return
    assert throttle.quick_token(tokens, plaintext, CLIENT) is None  # first use: to be recorded
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
    quick = throttle.quick_token(tokens, plaintext, CLIENT)
    assert quick is not None and quick.principal.name == ada and not quick.audit

    with statements(workbench) as seen:  # the workers' engine is not used at all
        assert throttle.quick_token(tokens, plaintext, CLIENT) is not None
    assert seen == []

    wrong = f"atl_{info.key}_{'x' * 43}"
    assert throttle.quick_token(tokens, wrong, CLIENT) is None  # a guess: counted by the full one
    assert throttle.quick_token(tokens, "not-a-token", CLIENT) is None

    with workbench.db.session() as session:  # the recorded use grows old
        session.execute(
            update(ApiToken)
            .where(ApiToken.key == info.key)
            .values(last_used_at=utcnow() - AUDIT_EVERY)
        )
    assert throttle.quick_token(tokens, plaintext, CLIENT) is None
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
    assert throttle.quick_token(tokens, plaintext, CLIENT) is not None

    for _ in range(throttle.client_free + 1):  # a locked client
        throttle.fail([("client", "198.51.100.3")])
    assert throttle.quick_token(tokens, plaintext, "198.51.100.3") is None
    with pytest.raises(TooManyAttempts):
        throttle.authenticate_token(tokens, plaintext, "198.51.100.3")

    workbench.users.set_disabled(ada, True)
    assert throttle.quick_token(tokens, plaintext, CLIENT) is None
    workbench.users.set_disabled(ada, False)
    assert throttle.quick_token(tokens, plaintext, CLIENT) is not None
    tokens.revoke(info.key)
    assert throttle.quick_token(tokens, plaintext, CLIENT) is None


def _in_use(workbench: Workbench, user: str) -> tuple[TokenInfo, str, Engine]:
    """A token of ``user`` whose use is recorded (the quick check may answer for it), and the
    event loop's reader; skips on a database server, which has none."""
    info, plaintext = workbench.tokens.create(user, "laptop", 30)
    assert workbench.throttle.authenticate_token(workbench.tokens, plaintext, CLIENT) is not None
    reader = workbench.db.loop_reader()
    if reader is None:
        pytest.skip("a database server is read from worker threads only")
    return info, plaintext, reader


def test_the_quick_check_reads_the_caller_again_only_after_a_commit(
    workbench: Workbench, ada: str
) -> None:
    """A steady caller's row is kept while nothing is committed to the file: the next call
    reads only SQLite's data version. A commit by any other connection, this process's or
    another program's, is seen on the very next call."""
    info, plaintext, reader = _in_use(workbench, ada)
    throttle, tokens = workbench.throttle, workbench.tokens
    assert throttle.quick_token(tokens, plaintext, CLIENT) is not None
    with statements(workbench, reader) as seen:
        for _ in range(3):
            assert throttle.quick_token(tokens, plaintext, CLIENT) is not None
    assert seen == []
    with statements(workbench, reader) as seen:  # another client: its own lock, read once
        assert throttle.quick_token(tokens, plaintext, "198.51.100.7") is not None
        assert throttle.quick_token(tokens, plaintext, "198.51.100.7") is not None
    assert len(seen) == 1

    # Another program revokes the token in the file itself.
    other = sqlite3.connect(workbench.db.engine.url.database or "")
    try:
        with other:
            other.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE key = ?",
                (utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"), info.key),
            )
    finally:
        other.close()
    assert throttle.quick_token(tokens, plaintext, CLIENT) is None
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is None

    _, plaintext = tokens.create(ada, "phone", 30)
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
    assert throttle.quick_token(tokens, plaintext, CLIENT) is not None
    workbench.users.set_role(ada, "viewer")  # the kept row is not the caller's any more
    quick = throttle.quick_token(tokens, plaintext, CLIENT)
    assert quick is not None and quick.principal.role == "viewer"
    for _ in range(throttle.client_free + 1):  # a lock is a write: seen at once
        throttle.fail([("client", CLIENT)])
    assert throttle.quick_token(tokens, plaintext, CLIENT) is None


def test_the_quick_check_steps_aside_when_the_file_is_locked(
    workbench: Workbench, ada: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It never waits (the event loop would wait with it): a locked file is the full check's
    to wait for, in a worker thread."""
    from sqlalchemy.exc import OperationalError

    _, plaintext, reader = _in_use(workbench, ada)
    throttle, tokens = workbench.throttle, workbench.tokens
    with reader.connect() as connection:
        pragmas = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in
                   ("busy_timeout", "query_only")]  # fmt: skip
    assert pragmas == [0, 1]

    def locked(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(reader, "connect", locked)
    assert throttle.quick_token(tokens, plaintext, CLIENT) is None
    assert throttle.authenticate_token(tokens, plaintext, CLIENT) is not None
