"""Read ``atelier.toml`` and ``ATELIER_<SECTION>_<KEY>`` variables into validated settings.

Variables that do not start with a known section (``ATELIER_URL``, ``ATELIER_TOKEN``,
``ATELIER_WORKSPACE``...) are client settings, not server configuration, and are left alone.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from atelier.config.settings import SECTIONS, Settings
from atelier.errors import ConfigError

ENV_PREFIX = "ATELIER_"


def load_settings(toml_path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Merge the TOML file (if any) and the environment; raise ConfigError on anything wrong."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    if toml_path is not None and toml_path.exists():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path}: not valid TOML: {exc}") from None
        for section, values in data.items():
            keys = values.keys() if isinstance(values, dict) else [""]
            for key in keys:
                origin[(section, key)] = f"{toml_path.name}: {section}.{key}".rstrip(".")
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
        if section not in SECTIONS:
            continue
        if not key:
            raise ConfigError(f"{name}: name a setting, e.g. {ENV_PREFIX}{section.upper()}_PORT")
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{origin[(section, '')]}: must be a table [{section}]")
        if section == "profiles":
            # ATELIER_PROFILES_<NAME>_<KEY>: the profile name may itself hold underscores.
            profile, key = _split_profile_key(name, key)
            table = table.setdefault(profile, {})
            origin[(section, profile)] = f"environment variable {name}"
        table[key] = value
        origin[(section, key)] = f"environment variable {name}"
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None


def _describe(exc: ValidationError, origin: dict[tuple[str, ...], str]) -> str:
    messages = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        where = origin.get(loc[:2], ".".join(loc) or "settings")
        if len(loc) > 2 and loc[:2] in origin:
            where = f"{where}.{'.'.join(loc[2:])}"
        if error["type"] == "extra_forbidden":
            known = _known_keys(loc)
            messages.append(f"{where}: unknown setting (known: {known})")
        else:
            value = error.get("input")
            got = f" (got {value!r})" if not isinstance(value, dict) else ""
            messages.append(f"{where}: {error['msg']}{got}")
    return "; ".join(messages)


def _known_keys(loc: tuple[str, ...]) -> str:
    if len(loc) == 1:
        return ", ".join(f"[{name}]" for name in SECTIONS)
    section = SECTIONS.get(loc[0])
    return ", ".join(section.model_fields) if section else ", ".join(SECTIONS)


def _split_profile_key(name: str, rest: str) -> tuple[str, str]:
    for key in sorted(SECTIONS["profiles"].model_fields, key=len, reverse=True):
        profile = rest.removesuffix(f"_{key}")
        if profile != rest and profile:
            return profile, key
    known = ", ".join(SECTIONS["profiles"].model_fields)
    raise ConfigError(
        f"{name}: name a profile and a setting, e.g. {ENV_PREFIX}PROFILES_SMALL_MEMORY "
        f"(settings: {known})"
    )
