from pathlib import Path

import pytest

from atelier.config import load_settings
from atelier.config.units import format_duration, parse_duration, parse_size
from atelier.errors import ConfigError


def test_default_profiles_ship() -> None:
    profiles = load_settings(None, {}).profiles
    assert set(profiles) == {"small", "large", "gpu"}
    assert profiles["gpu"].gpus == 1
    assert profiles["small"].memory_bytes == 2 * 10**9
    assert profiles["small"].max_runtime_seconds == 7200


def test_tables_change_defaults_key_by_key_and_add_profiles(tmp_path: Path) -> None:
    path = tmp_path / "atelier.toml"
    path.write_text(
        '[profiles.small]\nmemory = "4GiB"\n[profiles.xl]\ncpus = 32\nmax_runtime = 0\n'
    )
    profiles = load_settings(path, {"ATELIER_PROFILES_XL_MAX_RUNTIME": "1h30m"}).profiles
    assert profiles["small"].memory_bytes == 4 * 2**30 and profiles["small"].cpus == 1
    assert profiles["xl"].cpus == 32 and profiles["xl"].max_runtime_seconds == 5400


def test_bad_profiles_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "atelier.toml"
    path.write_text('[profiles.small]\ncpux = 2\n[profiles.big]\nmemory = "2XB"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert "atelier.toml: profiles.small.cpux: unknown setting (known: cpus, memory" in message
    assert "profiles.big.memory" in message and "'2XB' is not a size" in message
    with pytest.raises(ConfigError, match=r"compute\.default_profile: no profile 'nope'"):
        load_settings(None, {"ATELIER_COMPUTE_DEFAULT_PROFILE": "nope"})
    with pytest.raises(ConfigError, match="ATELIER_PROFILES_SMALL: name a profile and a setting"):
        load_settings(None, {"ATELIER_PROFILES_SMALL": "x"})


def test_units() -> None:
    assert parse_size("512MB") == 512 * 10**6 and parse_size("1.5 GiB") == int(1.5 * 2**30)
    assert parse_duration("1d2h") == 93600 and parse_duration("90") == 90
    assert format_duration(5400) == "1h30m"
    for bad in ("2G", "lots"):
        with pytest.raises(ValueError, match="is not a size"):
            parse_size(bad)
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration("2 weeks")
