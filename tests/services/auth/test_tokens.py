from datetime import timedelta

import pytest
from sqlalchemy import select, update

from atelier.backends.metadata import ApiToken
from atelier.backends.metadata.models import utcnow
from atelier.errors import InvalidInput, NotFound
from atelier.services.workbench import Workbench


@pytest.fixture
def ada(workbench: Workbench) -> str:
    workbench.users.create("ada", "scientist", "a long enough password")
    return "ada"


def test_token_authenticates_and_is_stored_hashed(workbench: Workbench, ada: str) -> None:
    info, plaintext = workbench.tokens.create(ada, "laptop", 30)
    use = workbench.tokens.authenticate(plaintext)
    assert use is not None and use.principal.name == ada and use.principal.via == "token"
    with workbench.db.session() as session:
        stored = session.scalar(select(ApiToken.secret_hash).where(ApiToken.key == info.key))
    assert stored is not None and plaintext.split("_", 2)[2] not in stored


def test_listing_never_shows_secrets(workbench: Workbench, ada: str) -> None:
    _, plaintext = workbench.tokens.create(ada, "laptop", 30)
    listed = workbench.tokens.list(ada)
    assert len(listed) == 1
    assert plaintext.split("_", 2)[2] not in str(listed[0].as_dict())


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "x",
        lambda t: t[:-1],
        lambda t: "atl_" + "0" * 12 + "_" + t.split("_", 2)[2],
        lambda t: t.replace("atl_", "xyz_"),
        lambda _t: "",
        lambda _t: "atl__",
    ],
)
def test_wrong_tokens_are_refused(workbench: Workbench, ada: str, mangle) -> None:  # type: ignore[no-untyped-def]
    _, plaintext = workbench.tokens.create(ada, "laptop", 30)
    assert workbench.tokens.authenticate(mangle(plaintext)) is None


def test_revoked_and_expired_tokens_are_refused(workbench: Workbench, ada: str) -> None:
    revoked, plain_revoked = workbench.tokens.create(ada, "a", 30)
    expired, plain_expired = workbench.tokens.create(ada, "b", 30)
    workbench.tokens.revoke(revoked.key)
    with workbench.db.session() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.key == expired.key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert workbench.tokens.authenticate(plain_revoked) is None
    assert workbench.tokens.authenticate(plain_expired) is None
    states = {t.key: t.active for t in workbench.tokens.list(ada)}
    assert states == {revoked.key: False, expired.key: False}


def test_disabled_user_tokens_are_refused(workbench: Workbench, ada: str) -> None:
    _, plaintext = workbench.tokens.create(ada, "a", 30)
    workbench.users.set_disabled(ada, True)
    assert workbench.tokens.authenticate(plaintext) is None


def test_revoke_only_own_when_owner_given(workbench: Workbench, ada: str) -> None:
    workbench.users.create("bob", "scientist", "a long enough password")
    info, _ = workbench.tokens.create("bob", "b", 30)
    with pytest.raises(NotFound):
        workbench.tokens.revoke(info.key, owner=ada)
    assert workbench.tokens.revoke(info.key, owner="bob").revoked_at is not None


def test_lifetime_and_name_checked(workbench: Workbench, ada: str) -> None:
    with pytest.raises(InvalidInput, match="1 to 3650 days"):
        workbench.tokens.create(ada, "a", 0)
    with pytest.raises(InvalidInput, match="name"):
        workbench.tokens.create(ada, "  ", 5)
    with pytest.raises(NotFound, match="user 'zed' not found"):
        workbench.tokens.create("zed", "a", 5)


def test_use_is_audited_once_per_interval(workbench: Workbench, ada: str) -> None:
    _, plaintext = workbench.tokens.create(ada, "a", 30)
    first = workbench.tokens.authenticate(plaintext)
    second = workbench.tokens.authenticate(plaintext)
    assert first is not None and first.audit
    assert second is not None and not second.audit
