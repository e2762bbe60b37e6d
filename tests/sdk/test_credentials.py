"""The stored login (``atelier login``): owner-only file and folder, one entry per server, and
the order in which ``connect`` picks a server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from atelier.errors import AuthenticationFailed, InvalidInput
from atelier.sdk import credentials
from atelier.sdk.connect import connect
from atelier.sdk.credentials import Login


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("ATELIER_URL", "ATELIER_TOKEN", "ATELIER_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "config" / "atelier"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_logins_are_kept_per_server_owner_only(config: Path) -> None:
    assert credentials.load() is None
    path = credentials.save(Login("https://a.example/", "atl_k1_s1", "ada", "k1"))
    credentials.save(Login("http://b.example:8000", 'atl_k2_"quoted"', "sam", "k2"))
    assert path == config / "credentials.toml"
    assert mode(config) == 0o700 and mode(path) == 0o600
    # The last login is the default; each server keeps its own token.
    assert credentials.load() == Login("http://b.example:8000", 'atl_k2_"quoted"', "sam", "k2")
    assert credentials.load("https://a.example").token == "atl_k1_s1"  # type: ignore[union-attr]
    assert [login.user for login in credentials.logins()] == ["sam", "ada"]
    forgotten = credentials.forget("http://b.example:8000/")
    assert forgotten is not None and forgotten.user == "sam"
    assert credentials.load() is not None and credentials.load().user == "ada"  # type: ignore[union-attr]
    assert credentials.forget("http://b.example:8000") is None
    with pytest.raises(InvalidInput, match="not a server URL"):
        credentials.save(Login("a.example", "t", "ada", ""))


def test_a_file_others_may_read_is_narrowed_with_a_warning(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = credentials.save(Login("https://a.example", "atl_k_s", "ada", "k"))
    path.chmod(0o644)
    config.chmod(0o755)
    assert credentials.load() is not None
    warned = capsys.readouterr().err
    assert "readable by others (644)" in warned and "readable by others (755)" in warned
    assert mode(path) == 0o600 and mode(config) == 0o700


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_another_users_file_is_not_used(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = credentials.save(Login("https://a.example", "atl_k_s", "ada", "k"))
    os.chown(path, 12345, 12345)
    assert credentials.load() is None
    assert "belongs to another user: not used" in capsys.readouterr().err


def test_connect_prefers_the_environment_then_the_stored_login(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atelier.sdk.remote import RemoteClient

    credentials.save(Login("https://a.example", "atl_a_stored", "ada", "a"))
    with connect() as client:
        assert isinstance(client, RemoteClient) and client.url == "https://a.example"
    # ATELIER_URL alone: that server's stored token.
    monkeypatch.setenv("ATELIER_URL", "https://a.example/")
    with connect() as client:
        assert client._http.headers["Authorization"] == "Bearer atl_a_stored"  # type: ignore[attr-defined]
    monkeypatch.setenv("ATELIER_URL", "https://elsewhere.example")
    with pytest.raises(AuthenticationFailed, match=r"atelier login https://elsewhere\.example"):
        connect()
    monkeypatch.setenv("ATELIER_TOKEN", "atl_x_env")
    with connect() as client:
        assert client.url == "https://elsewhere.example"  # type: ignore[attr-defined]
