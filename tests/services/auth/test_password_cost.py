"""``auth.password_hash_cost``: tests hash cheaply; a server with the standard cost redoes a
cheap hash at the next sign-in, so a workspace made by tests never keeps weak hashes."""

from pathlib import Path

from sqlalchemy import select

from atelier.backends.metadata import Database, User
from atelier.services.auth.users import Users

PASSWORD = "a long enough password"


def _stored(db: Database) -> str:
    with db.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.name == "ada"))
    assert stored is not None
    return stored


def test_minimal_cost_hashes_cheaply_and_standard_redoes_it(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        db.migrate()
        Users(db, "minimal").create("ada", "scientist", PASSWORD)
        cheap = _stored(db)
        assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        assert Users(db, "minimal").verify_password("ada", PASSWORD) is not None
        assert _stored(db) == cheap

        standard = Users(db)
        assert standard.verify_password("ada", PASSWORD + "x") is None
        assert _stored(db) == cheap  # a wrong password changes nothing
        assert standard.verify_password("ada", PASSWORD) is not None
        assert _stored(db).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert standard.verify_password("ada", PASSWORD) is not None
    finally:
        db.dispose()
