from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from atelier.backends.metadata import Base, Database


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
