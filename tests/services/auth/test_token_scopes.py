"""Tokens made for code: scopes, labels, revocation by label, renewal; older tokens upgraded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from atelier.backends.metadata import Database
from atelier.backends.metadata.database import MIGRATIONS
from atelier.errors import InvalidInput
from atelier.services.auth import Tokens, Users
from atelier.services.auth import scopes as token_scopes
from atelier.services.auth.secrets import digest


def test_a_token_made_before_scopes_keeps_working_after_the_upgrade(metadata_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    db = Database(metadata_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (name, role, disabled, created_at) "
                    "VALUES ('ada', 'admin', false, CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO api_tokens (key, secret_hash, user_id, name, created_at, "
                    "expires_at) SELECT 'k0ld', :hash, id, 'laptop', CURRENT_TIMESTAMP, "
                    "'2999-01-01 00:00:00' FROM users"
                ),
                {"hash": digest("s3cret")},
            )
        db.migrate()
        use = Tokens(db).authenticate("atl_k0ld_s3cret")
        assert use is not None
        assert use.principal.scopes is None and use.principal.role == "admin"
        assert use.principal.may(frozenset())  # a person's token passes every route
        assert Tokens(db).list("ada")[0].scopes is None
    finally:
        db.dispose()


@pytest.fixture
def tokens(tmp_path) -> Tokens:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    db.migrate()
    Users(db).create("ada", "scientist", "correct horse battery")
    return Tokens(db)


def test_code_tokens_carry_their_scopes_and_label(tokens: Tokens) -> None:
    info, secret = tokens.create_for("ada", "app churn", token_scopes.APP, timedelta(hours=1))
    use = tokens.authenticate(secret)
    assert use is not None
    assert use.principal.scopes == token_scopes.APP and use.principal.label == "app churn"
    assert use.principal.may(frozenset({token_scopes.PREDICT}))
    assert not use.principal.may(frozenset({token_scopes.TRACKING}))
    assert not use.principal.may(frozenset())
    assert info.as_dict()["scopes"] == ["data:read", "predict"]


def test_code_tokens_are_checked(tokens: Tokens) -> None:
    with pytest.raises(InvalidInput, match="unknown token scope admin"):
        tokens.create_for("ada", "app x", frozenset({"admin"}), timedelta(hours=1))
    with pytest.raises(InvalidInput, match="at least one scope"):
        tokens.create_for("ada", "app x", frozenset(), timedelta(hours=1))
    with pytest.raises(InvalidInput, match="lifetime"):
        tokens.create_for("ada", "app x", token_scopes.APP, timedelta(seconds=5))


def test_revoking_by_label_spares_peoples_tokens(tokens: Tokens) -> None:
    _, own = tokens.create("ada", "app churn", 1)  # a person may name a token anything
    _, first = tokens.create_for("ada", "app churn", token_scopes.APP, timedelta(hours=1))
    _, second = tokens.create_for("ada", "app churn", token_scopes.APP, timedelta(hours=1))
    assert tokens.authenticate(first) is None  # a new one revokes the one before
    _, other = tokens.create_for("ada", "app churner", token_scopes.APP, timedelta(hours=1))
    _, job = tokens.create_for("ada", "job 1", token_scopes.JOB, timedelta(hours=1))
    assert tokens.revoke_label("app churn") == 1
    assert tokens.authenticate(second) is None
    assert tokens.authenticate(other) is not None
    assert tokens.revoke_label("app ", prefix=True) == 1
    assert tokens.authenticate(other) is None
    assert tokens.authenticate(job) is not None
    assert tokens.authenticate(own) is not None


def test_a_code_token_is_renewed_but_a_persons_is_not(tokens: Tokens) -> None:
    info, _ = tokens.create_for("ada", "app churn", token_scopes.APP, timedelta(minutes=5))
    tokens.extend(info.key, timedelta(days=1))
    renewed = next(t for t in tokens.list("ada") if t.key == info.key)
    assert renewed.expires_at - info.expires_at > timedelta(hours=20)
    person, _ = tokens.create("ada", "laptop", 1)
    tokens.extend(person.key, timedelta(days=100))
    same = next(t for t in tokens.list("ada") if t.key == person.key)
    assert same.expires_at == person.expires_at
