"""Which workspace folder a command works on, without opening it (and without pydantic: the
light commands and ``atelier run``'s submission to a running server find it before loading
the settings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from atelier.errors import WorkspaceNotFound

CONFIG_FILE = "atelier.toml"


def find_workspace(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """Resolve which workspace folder to use, without opening it."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser().resolve()
    if environ.get("ATELIER_WORKSPACE"):
        return Path(environ["ATELIER_WORKSPACE"]).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise WorkspaceNotFound(
        f"no Atelier workspace in {here} or its parents; run `atelier init` or pass --workspace"
    )
