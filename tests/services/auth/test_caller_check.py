"""Checking who calls is one statement per request, and reads the caller afresh every time.

The statements are counted on the engine (``before_cursor_execute``), so a second query sneaking
into the hot path (the owner read apart from the token, a "last used" read before its write)
fails here; revocation, disabling and ending a session must still refuse the very next call.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from atelier.backends.metadata import ApiToken, User
from atelier.backends.metadata.models import utcnow
from atelier.services.auth.tokens import AUDIT_EVERY
from atelier.services.workbench import Workbench


@contextmanager
def statements(workbench: Workbench) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(workbench.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(workbench.db.engine, "before_cursor_execute", record)


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
