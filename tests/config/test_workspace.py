import os
from pathlib import Path

import pytest

from atelier.config import Workspace, find_workspace, init_workspace
from atelier.config.workspace import FOLDERS
from atelier.errors import WorkspaceNotFound


def test_init_creates_config_folders_and_private_key(tmp_path: Path) -> None:
    root, created = init_workspace(tmp_path / "ws")
    assert created
    assert (root / "atelier.toml").is_file()
    for folder in FOLDERS:
        assert (root / folder).is_dir()
    key = root / ".atelier" / "secret_key"
    assert key.stat().st_mode & 0o077 == 0
    assert len(Workspace.open(root).secret_key()) > 40


def test_init_keeps_an_existing_config(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path)
    (root / "atelier.toml").write_text("[server]\nport = 9999\n")
    _, created = init_workspace(tmp_path)
    assert not created
    assert Workspace.open(root).settings.server.port == 9999


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(WorkspaceNotFound, match="not a folder"):
        init_workspace(target)


def test_open_without_config_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFound, match="atelier init"):
        Workspace.open(tmp_path)


def test_find_prefers_explicit_then_environment_then_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    nested = root / "projects" / "p"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert find_workspace(None, {}) == root
    assert find_workspace(None, {"ATELIER_WORKSPACE": str(tmp_path)}) == tmp_path.resolve()
    assert find_workspace(str(tmp_path / "x"), {"ATELIER_WORKSPACE": "/y"}) == tmp_path / "x"


def test_find_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceNotFound, match="run `atelier init`"):
        find_workspace(None, {k: v for k, v in os.environ.items() if k != "ATELIER_WORKSPACE"})


def test_default_metadata_url_is_in_the_workspace(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path)
    assert Workspace.open(root, {}).metadata_url == f"sqlite:///{root / 'atelier.db'}"
