"""Secrets at rest, attacked: source passwords are not in the metadata database's bytes (file,
WAL, shared memory; SQLite and PostgreSQL), do not open without the right key, are sealed when
an old workspace opens, and the workspace's data and secrets are readable by the owner only."""

from __future__ import annotations

import json
import logging
import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from atelier.config import Workspace, init_workspace
from atelier.config.sealing import KEY_VARIABLE, SealError, new_key
from atelier.errors import ConfigError
from atelier.services.workbench import Workbench
from tests.services.catalog.servers import mysql_table, postgres_source

PG_PASSWORD = "pg-Secret-" + uuid.uuid4().hex
MY_PASSWORD = "my-Secret-" + uuid.uuid4().hex


@contextmanager
def mysql_user(workbench: Workbench) -> Iterator[dict[str, Any]]:
    """A MariaDB user with a password that may read one table; its source options."""
    from atelier.backends.warehouse import SourceSpec, attachment
    from atelier.backends.warehouse.extensions import open_connection

    extension_dir = workbench.warehouse.extension_directory
    with mysql_table(extension_dir) as (options, table):
        user = f"atelier_{uuid.uuid4().hex[:8]}"
        admin = attachment(
            "m",
            SourceSpec(
                "mysql",
                host=options["host"],
                port=options.get("port"),
                database=options.get("database"),
                user=options.get("user"),
            ),
        )
        connection = open_connection(extension_dir, ["mysql"])
        for statement in admin.statements:
            connection.execute(statement.replace(", READ_ONLY)", ")"))
        database = options["database"]
        connection.execute(
            f"CALL mysql_execute('m', 'CREATE USER ''{user}''@''%'' "
            f"IDENTIFIED BY ''{MY_PASSWORD}''')"
        )
        connection.execute(
            f"CALL mysql_execute('m', 'GRANT SELECT ON `{database}`.`{table}` TO ''{user}''@''%''')"
        )
        try:
            yield {**options, "user": user}
        finally:
            connection.execute(f"CALL mysql_execute('m', 'DROP USER ''{user}''@''%''')")
            connection.close()


def metadata_bytes(workbench: Workbench) -> bytes:
    """Everything the metadata database holds, as an attacker with its files (or a dump) has it."""
    engine = workbench.db.engine
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM source_credentials")).all()
        rows += connection.execute(text("SELECT * FROM sources")).all()
        rows += connection.execute(text("SELECT * FROM audit_events")).all()
    return repr(rows).encode()


def test_source_passwords_are_not_in_the_metadata_database(
    workbench: Workbench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with postgres_source() as pg, mysql_user(workbench) as my:
        workbench.sources.add(
            "crm", "postgres", options=pg, secrets={"password": PG_PASSWORD}, by="ada"
        )
        workbench.sources.add(
            "shop", "mysql", options=my, secrets={"password": MY_PASSWORD}, by="ada"
        )
        # The MariaDB user needs its password: the sealed one opens and works.
        assert workbench.sources.test("shop")
        assert workbench.sources.test("crm")
        stored = metadata_bytes(workbench)
        for password in (PG_PASSWORD, MY_PASSWORD):
            assert password.encode() not in stored
            assert password.encode("utf-16-le") not in stored
            assert password not in caplog.text
            assert password not in repr([s.as_dict() for s in workbench.sources.list()])
        assert workbench.sources.get("shop").secret_fields == ("password",)


def test_the_api_never_answers_a_source_secret(client: Any, accounts: Any) -> None:
    with postgres_source() as pg:
        created = client.post(
            "/api/v1/sources",
            json={
                "name": "crm",
                "type": "postgres",
                "options": pg,
                "secrets": {"password": PG_PASSWORD},
            },
            headers=accounts.headers("admin"),
        )
        assert created.status_code in (200, 201), created.text
        for path in ("/api/v1/sources", "/api/v1/sources/crm", "/api/v1/audit"):
            answer = client.get(path, headers=accounts.headers("admin"))
            assert PG_PASSWORD not in answer.text


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A workspace (SQLite metadata) with a PostgreSQL source whose password is sealed with
    the key in ATELIER_SECRETS_KEY."""
    root, _ = init_workspace(tmp_path / "ws")
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    workspace = Workspace.open(root, environ={})
    with postgres_source() as pg:
        wb = Workbench(workspace)
        wb.sources.add("crm", "postgres", options=pg, secrets={"password": PG_PASSWORD}, by="ada")
        wb.close()
        yield workspace


KEY = new_key()


def test_the_key_from_the_environment_is_used_and_no_key_file_is_made(keyed: Workspace) -> None:
    assert not (keyed.private_dir / "secrets_key").exists()
    wb = Workbench(keyed)
    try:
        assert wb.sources.test("crm")
    finally:
        wb.close()


@pytest.mark.parametrize("wrong", ["another key", "missing variable"])
def test_a_wrong_or_missing_key_opens_nothing_and_says_which_key(
    keyed: Workspace, monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    if wrong == "another key":
        monkeypatch.setenv(KEY_VARIABLE, new_key())
        where = KEY_VARIABLE
    else:
        monkeypatch.delenv(KEY_VARIABLE)  # falls back to a (new) key file: not the key
        where = "secrets_key"
    wb = Workbench(keyed)  # opening the workspace still works
    try:
        with pytest.raises(SealError, match=where) as refused:
            wb.sources.test("crm")
        assert PG_PASSWORD not in str(refused.value)
        assert "sealed with another key" in str(refused.value)
        # Listing needs no secret: it goes on.
        assert [s.name for s in wb.sources.list()] == ["crm"]
    finally:
        wb.close()


@pytest.mark.parametrize(
    "value",
    ["not-a-key", "c2hvcnQ=", new_key()[:-2], f"{new_key()},,oops", "\u00e9" * 44],
    # Ids that do not hold the random keys: the same in every worker process.
    ids=["not-a-key", "too-short", "cut", "empty-second", "not-ascii"],
)
def test_a_malformed_key_is_a_config_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    monkeypatch.setenv(KEY_VARIABLE, value)
    with pytest.raises(ConfigError, match=KEY_VARIABLE) as refused:
        Workbench(Workspace.open(root, environ={}))
    assert value not in str(refused.value)


def test_a_malformed_key_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    root, _ = init_workspace(tmp_path / "ws")
    (root / ".atelier" / "secrets_key").write_text("garbage\n")
    with pytest.raises(ConfigError, match="secrets_key"):
        Workbench(Workspace.open(root, environ={}))


def test_rotation_reseals_with_the_new_key(
    keyed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = new_key()
    monkeypatch.setenv(KEY_VARIABLE, f"{newer},{KEY}")
    Workbench(keyed).close()  # opening re-seals with the first key
    monkeypatch.setenv(KEY_VARIABLE, newer)  # the old key is gone
    wb = Workbench(keyed)
    try:
        assert wb.sources.test("crm")
    finally:
        wb.close()


def test_credentials_stored_in_clear_before_0009_are_sealed_on_upgrade(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace at revision 0008 with a password in clear: after the upgrade the password
    is sealed, the clear copy is gone, and the source works as before."""
    from alembic import command
    from alembic.config import Config

    from atelier.backends.metadata import Database
    from atelier.backends.metadata.database import MIGRATIONS

    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    db = Database(workspace.metadata_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    with postgres_source() as pg:
        with db.engine.begin() as connection:
            source_id = connection.execute(
                text(
                    "INSERT INTO sources (name, type, options, description, created_by, created_at)"
                    " VALUES ('crm', 'postgres', :options, '', 'ada', CURRENT_TIMESTAMP)"
                    " RETURNING id"
                ),
                {"options": json.dumps(pg)},
            ).scalar_one()
            connection.execute(
                text("INSERT INTO source_credentials (source_id, secrets) VALUES (:id, :secrets)"),
                {"id": source_id, "secrets": f'{{"password": "{PG_PASSWORD}"}}'},
            )
        db.dispose()
        wb = Workbench(workspace)
        try:
            assert (wb.db.revision() or "") >= "0009"
            with wb.db.engine.connect() as check:
                secrets, sealed = check.execute(
                    text("SELECT secrets, sealed FROM source_credentials")
                ).one()
            assert PG_PASSWORD not in str(secrets) and PG_PASSWORD not in sealed
            assert wb.sources.get("crm").secret_fields == ("password",)
            assert wb.sources.test("crm")
            assert PG_PASSWORD.encode() not in metadata_bytes(wb)
        finally:
            wb.close()


# -- file modes ------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_paths(root: Path) -> dict[Path, int]:
    expected = {
        root / name: 0o700
        for name in ("data", "data/lake", "data/uploads", "artifacts", "logs", ".atelier")
    }
    for name in ("atelier.db", "atelier.db-wal", "data/lake.sqlite", "data/lake.sqlite-wal"):
        expected[root / name] = 0o600
    for key in ("secret_key", "secrets_key"):
        expected[root / ".atelier" / key] = 0o600
    return expected


def use(root: Path) -> None:
    """Write to the metadata database and the lake, so that their WAL files exist."""
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        wb.users.ensure("ada", "scientist")
        wb.warehouse.run_write(lambda c: c.execute("CREATE TABLE t AS SELECT 1 AS x"))
        assert (root / "atelier.db-wal").exists() and (root / "data/lake.sqlite").exists()
        for path, wanted in private_paths(root).items():
            if path.exists():
                assert mode(path) == wanted, f"{path} is {oct(mode(path))}"
    finally:
        wb.close()


def test_a_fresh_workspace_is_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    previous = os.umask(0o022)  # the usual umask: files 0644, folders 0755
    try:
        root, _ = init_workspace(tmp_path / "ws")
        use(root)
    finally:
        os.umask(previous)
    for path, wanted in private_paths(root).items():
        # The WAL files go when the last connection closes (checked in use() before that).
        assert path.exists() or path.name.endswith("-wal"), path
        if path.exists():
            assert mode(path) == wanted, f"{path} is {oct(mode(path))}"


def test_an_existing_workspace_is_fixed_when_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    root, _ = init_workspace(tmp_path / "ws")
    use(root)
    for path in private_paths(root):
        if path.exists():
            path.chmod(0o777 if path.is_dir() else 0o666)  # as an old Atelier left them, or worse
    Workbench(Workspace.open(root, environ={})).close()
    for path, wanted in private_paths(root).items():
        if path.exists():
            assert mode(path) == wanted, f"{path} is {oct(mode(path))}"
