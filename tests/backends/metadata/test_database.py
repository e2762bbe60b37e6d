from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from atelier.backends.metadata import Base, Database
from atelier.backends.metadata.database import MIGRATIONS, head_revision


def test_migrations_create_every_table_and_match_the_models(metadata_url: str) -> None:
    db = Database(metadata_url)
    try:
        db.migrate()
        db.migrate()  # idempotent: a second start finds nothing to do
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "alembic_version" in tables
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        db.dispose()


def test_postgresql_url_uses_psycopg3() -> None:
    assert Database("postgresql://u@h/db").url.startswith("postgresql+psycopg://")


def test_migration_files_are_named_after_their_revision_and_chained() -> None:
    # Database.migrate() trusts the file names to find the newest revision without Alembic.
    versions = sorted((MIGRATIONS / "versions").glob("*_*.py"))
    previous = None
    for path in versions:
        source = path.read_text(encoding="utf-8")
        revision = path.name.split("_", 1)[0]
        assert f'revision = "{revision}"' in source, path.name
        assert f"down_revision = {previous!r}".replace("'", '"') in source, path.name
        previous = revision
    assert head_revision() == previous


def test_migrate_at_head_is_a_no_op_and_a_fresh_database_gets_every_revision(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'meta.sqlite'}")
    assert database.revision() is None
    database.migrate()
    assert database.revision() == head_revision()
    database.migrate()
    assert database.revision() == head_revision()
    database.dispose()


def test_sqlite_runs_in_wal_and_syncs_at_checkpoints(tmp_path: Path) -> None:
    """What each connection is set to: WAL (readers beside a writer) with synchronous=NORMAL
    (1: no sync per commit), foreign keys and secure deletes on."""
    db = Database(f"sqlite:///{tmp_path / 'atelier.db'}")
    try:
        with db.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA secure_delete").scalar() == 1
    finally:
        db.dispose()
