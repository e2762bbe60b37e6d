"""Configuration: ``atelier.toml`` in the workspace, overridden by ``ATELIER_*`` variables.

Validated once at start-up; a wrong key or value raises :class:`~atelier.errors.ConfigError`
naming the key and where it came from.

The names below load on first use: light modules of the package (:mod:`.units`) are imported
without pydantic, so that a job's supervisor starts the job before loading it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atelier.config.loader import load_settings
    from atelier.config.locate import find_workspace
    from atelier.config.settings import Settings
    from atelier.config.workspace import Workspace, init_workspace

__all__ = ["Settings", "Workspace", "find_workspace", "init_workspace", "load_settings"]

_WHERE = {
    "load_settings": "atelier.config.loader",
    "Settings": "atelier.config.settings",
    "Workspace": "atelier.config.workspace",
    "find_workspace": "atelier.config.locate",
    "init_workspace": "atelier.config.workspace",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'atelier.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
