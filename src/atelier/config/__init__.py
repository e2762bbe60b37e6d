"""Configuration: ``atelier.toml`` in the workspace, overridden by ``ATELIER_*`` variables.

Validated once at start-up; a wrong key or value raises :class:`~atelier.errors.ConfigError`
naming the key and where it came from.
"""

from atelier.config.loader import load_settings
from atelier.config.settings import Settings
from atelier.config.workspace import Workspace, find_workspace, init_workspace

__all__ = ["Settings", "Workspace", "find_workspace", "init_workspace", "load_settings"]
