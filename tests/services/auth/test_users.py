import pytest

from atelier.errors import Conflict, InvalidInput, NotFound
from atelier.services.workbench import Workbench

PASSWORD = "a long enough password"


def test_create_and_verify_password(workbench: Workbench) -> None:
    user = workbench.users.create("ada", "scientist", PASSWORD)
    assert user.role == "scientist" and user.has_password
    assert workbench.users.verify_password("ada", PASSWORD) is not None
    assert workbench.users.verify_password("ada", PASSWORD + "x") is None
    assert workbench.users.verify_password("nobody", PASSWORD) is None


def test_password_is_stored_as_argon2_hash(workbench: Workbench) -> None:
    from sqlalchemy import select

    from atelier.backends.metadata import User

    workbench.users.create("ada", "scientist", PASSWORD)
    with workbench.db.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.name == "ada"))
    assert stored is not None and stored.startswith("$argon2") and PASSWORD not in stored


@pytest.mark.parametrize(
    ("name", "role", "password", "error", "match"),
    [
        ("Ada", "scientist", PASSWORD, InvalidInput, "user name 'Ada' is not allowed"),
        ("ada", "owner", PASSWORD, InvalidInput, "role 'owner' does not exist"),
        ("ada", "scientist", "short", InvalidInput, "at least 12 characters"),
    ],
)
def test_bad_input_is_refused(
    workbench: Workbench, name: str, role: str, password: str, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        workbench.users.create(name, role, password)
    assert workbench.users.count() == 0


def test_duplicate_name(workbench: Workbench) -> None:
    workbench.users.create("ada", "viewer", PASSWORD)
    with pytest.raises(Conflict, match="already exists"):
        workbench.users.create("ada", "admin", PASSWORD)


def test_set_role_and_unknown_user(workbench: Workbench) -> None:
    workbench.users.create("ada", "viewer", PASSWORD)
    assert workbench.users.set_role("ada", "admin").role == "admin"
    with pytest.raises(NotFound, match="user 'bob' not found"):
        workbench.users.set_role("bob", "admin")


def test_disabled_user_cannot_log_in_and_loses_sessions(workbench: Workbench) -> None:
    user = workbench.users.create("ada", "scientist", PASSWORD)
    secret = workbench.sessions.start(user.id)
    workbench.users.set_disabled("ada", True)
    assert workbench.users.verify_password("ada", PASSWORD) is None
    assert workbench.sessions.authenticate(secret) is None


def test_owner_has_no_password(workbench: Workbench) -> None:
    owner = workbench.owner()
    assert owner.role == "admin" and owner.via == "local"
    assert not workbench.users.get(owner.name).has_password
    assert workbench.owner() == owner  # created once
