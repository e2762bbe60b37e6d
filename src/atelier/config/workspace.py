"""The workspace: a folder holding ``atelier.toml``, the data, artifacts, projects and logs.

Chosen by ``--workspace``, else ``ATELIER_WORKSPACE``, else the current folder or the nearest
parent that holds an ``atelier.toml``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from atelier.config.loader import load_settings
from atelier.config.locate import CONFIG_FILE
from atelier.config.sealing import Sealer, load_sealer, write_once
from atelier.config.settings import Settings
from atelier.errors import WorkspaceNotFound

log = logging.getLogger(__name__)

FOLDERS = ("data", "data/lake", "data/uploads", "artifacts", "projects", "logs", ".atelier")
#: Folders holding data, secrets or logs: their owner's only (whatever mode the files in them
#: were made with, nobody else can reach them).
PRIVATE_FOLDERS = ("data", "data/lake", "data/uploads", "artifacts", "logs", ".atelier")
#: The embedded databases and their journals: their owner's only (SQLite gives a new WAL or
#: shared-memory file the mode of its database file).
PRIVATE_FILES = tuple(
    f"{database}{suffix}"
    for database in ("atelier.db", "data/lake.sqlite")
    for suffix in ("", "-wal", "-shm", "-journal")
)

TEMPLATE = """\
# Atelier workspace configuration. Every setting can be overridden by an environment variable
# ATELIER_<SECTION>_<KEY>, e.g. ATELIER_SERVER_PORT=8800. See docs/configuration.md.

[server]
host = "127.0.0.1"
port = 8700
# "single": one person, login by a one-time link printed by `atelier up`.
# "team": users with passwords and roles, API tokens.
mode = "single"

[metadata]
# Empty: a SQLite file in this workspace. Team server: "postgresql://user@host:5432/atelier".
url = ""

[warehouse]
# Empty: DuckLake catalog in SQLite here, table data as Parquet under data/lake.
catalog_url = ""
data_path = ""

[compute]
backend = "local"
"""


@dataclass(frozen=True)
class Workspace:
    """A loaded workspace: its folder and its validated settings."""

    root: Path
    settings: Settings

    @classmethod
    def open(cls, root: Path, environ: Mapping[str, str] | None = None) -> Workspace:
        root = root.resolve()
        if not (root / CONFIG_FILE).is_file():
            raise WorkspaceNotFound(
                f"{root}: not an Atelier workspace (no {CONFIG_FILE}); "
                f"create one with `atelier init {root}`"
            )
        return cls(root, load_settings(root / CONFIG_FILE, environ))

    @property
    def metadata_url(self) -> str:
        return self.settings.metadata.url or f"sqlite:///{self.root / 'atelier.db'}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def private_dir(self) -> Path:
        return self.root / ".atelier"

    @property
    def public_url(self) -> str:
        server = self.settings.server
        return server.public_url or f"http://{server.host}:{server.port}"

    def secure(self) -> None:
        """Make the files that hold data or secrets readable by the owner only (folders 0700,
        files 0600); a workspace made before this is fixed when it is opened. The default
        metadata database is made here, empty and private, before SQLite first opens it."""
        for folder in PRIVATE_FOLDERS:
            _restrict(self.root / folder, 0o700)
        files = [self.root / name for name in PRIVATE_FILES]
        if self.metadata_url.startswith("sqlite:///"):
            database = Path(self.metadata_url[len("sqlite:///") :])
            if database.parent.is_dir():
                # Not ours to make (a read-only folder): SQLite says so when it opens it.
                with contextlib.suppress(FileExistsError, PermissionError):
                    os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            files += [database.with_name(database.name + s) for s in ("", "-wal", "-shm")]
        for path in files:
            _restrict(path, 0o600)
        if self.private_dir.is_dir():
            for path in self.private_dir.iterdir():
                if path.is_file() and not path.is_symlink():
                    _restrict(path, 0o600)

    def sealer(self, environ: Mapping[str, str] | None = None) -> Sealer:
        """What seals source credentials: ``ATELIER_SECRETS_KEY``, else the key file
        ``.atelier/secrets_key`` (see :mod:`atelier.config.sealing`)."""
        return load_sealer(self.private_dir, environ)

    def secret_key(self) -> str:
        """The key that signs cookies; made once per workspace, readable by its owner only."""
        path = self.private_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_once(path, secrets.token_urlsafe(48))
        return path.read_text().strip()


def _restrict(path: Path, mode: int) -> None:
    try:
        if path.exists() and not path.is_symlink() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
    except PermissionError:
        log.warning("%s: could not make it readable by its owner only", path)


def init_workspace(root: Path) -> tuple[Path, bool]:
    """Create the workspace folders and a default ``atelier.toml``; keep an existing one.

    Returns the resolved root and whether a new configuration file was written.
    """
    root = root.resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceNotFound(f"{root}: exists and is not a folder")
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_FILE
    created = not config.exists()
    if created:
        config.write_text(TEMPLATE, encoding="utf-8")
    workspace = Workspace.open(root)
    workspace.secret_key()
    workspace.secure()
    return root, created
