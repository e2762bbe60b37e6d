from pathlib import Path

import pytest

from atelier.config import load_settings
from atelier.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "atelier.toml"
    path.write_text(text)
    return path


def test_defaults_without_file() -> None:
    settings = load_settings(None, {})
    assert settings.server.port == 8700
    assert settings.server.host == "127.0.0.1"
    assert settings.server.mode == "single"


def test_file_then_environment_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\nmode = 'team'\n")
    settings = load_settings(path, {"ATELIER_SERVER_PORT": "9100"})
    assert settings.server.port == 9100
    assert settings.server.mode == "team"


def test_keys_with_underscores_from_environment() -> None:
    settings = load_settings(None, {"ATELIER_COMPUTE_RAY_ADDRESS": "ray://head:10001"})
    assert settings.compute.ray_address == "ray://head:10001"


def test_client_variables_are_not_configuration() -> None:
    environ = {"ATELIER_URL": "http://x", "ATELIER_TOKEN": "t", "ATELIER_WORKSPACE": "/w"}
    assert load_settings(None, environ).server.port == 8700


def test_unknown_key_names_it_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nprot = 9000\n")
    with pytest.raises(ConfigError, match=r"atelier.toml: server.prot: unknown setting"):
        load_settings(path, {})


def test_unknown_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[sever]\nport = 9000\n")
    with pytest.raises(ConfigError, match=r"sever: unknown setting \(known: \[server\]"):
        load_settings(path, {})


def test_bad_value_names_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 'abc'\n")
    with pytest.raises(ConfigError, match=r"server.port: .*integer.*'abc'"):
        load_settings(path, {})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment variable ATELIER_SERVER_PORT: .*70000"):
        load_settings(None, {"ATELIER_SERVER_PORT": "70000"})


def test_unknown_environment_key() -> None:
    with pytest.raises(ConfigError, match=r"ATELIER_SERVER_PROT: unknown setting"):
        load_settings(None, {"ATELIER_SERVER_PROT": "1"})


def test_bad_choice() -> None:
    with pytest.raises(ConfigError, match=r"ATELIER_SERVER_MODE: .*'single' or 'team'"):
        load_settings(None, {"ATELIER_SERVER_MODE": "solo"})


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = 1\n")
    with pytest.raises(ConfigError, match=r"atelier.toml: not valid TOML: .*line 1"):
        load_settings(path, {})


def test_metadata_url_scheme_checked() -> None:
    with pytest.raises(ConfigError, match=r"ATELIER_METADATA_URL: .*sqlite:// or postgresql://"):
        load_settings(None, {"ATELIER_METADATA_URL": "mysql://x"})
