"""Projects on the wire: requests and responses of ``/api/v1/projects``.

The API declares these as its bodies and ``response_model``; the remote SDK client parses what
it receives with them. Also the name rules a laptop needs without the server's packages.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

#: The file a pulled project folder keeps: which project it is, where from, and the files as
#: pulled (their sha256), so a push knows what changed on each side.
MARKER = ".atelier-project"

#: Roles within a project. Owners manage members; owners and editors change the project (its
#: files, environment, jobs and apps) and run its code; readers see its notebooks and runs.
MEMBER_ROLES = ("owner", "editor", "reader")
#: The roles that change the project and run its code.
EDITING_ROLES = ("owner", "editor")
#: Earlier names of roles, still taken on input: ``member`` was an editor.
ROLE_ALIASES = {"member": "editor"}


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=10_000)
    #: A git repository to clone into the project instead of starting empty.
    from_git: str | None = Field(default=None, max_length=2048)


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(max_length=64)
    #: ``owner``, ``editor`` or ``reader`` (``member``, the earlier name of editor, is taken).
    role: str = "editor"


class Packages(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Requirements as uv takes them: ``lightgbm``, ``six==1.17.0``, ``pandas>=2``.
    packages: list[str] = Field(min_length=1, max_length=50)


class MemberOut(BaseModel):
    name: str
    role: str
    added_at: datetime


class ProjectOut(BaseModel):
    name: str
    description: str
    #: The folder on the server, and its environment's interpreter there.
    path: str
    python: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    members: list[MemberOut]
    #: The caller's role in the project: ``owner``, ``editor``, ``reader`` or None.
    role: str | None = None


class LockedPackageOut(BaseModel):
    name: str
    version: str
    direct: bool


class EnvironmentOut(BaseModel):
    project: str
    python: str
    requires_python: str
    requirements: list[str]
    packages: list[LockedPackageOut]


class PushResult(BaseModel):
    """What a push changed in the project's folder on the server."""

    project: str
    #: Files written (new or changed), and deleted (removed on the pusher's side since the
    #: pull, unchanged on the server).
    written: list[str]
    deleted: list[str]
    #: Files only the server has (made there since the pull): kept.
    kept: list[str]
    #: Files changed or deleted on the server since the pull and unchanged in the pushed tree:
    #: the server's version stays (pull again to get it).
    newer: list[str] = []
    #: ``unchanged`` (pyproject.toml and uv.lock as before) or ``synced`` (the environment now
    #: matches the pushed lock).
    environment: str
    #: The pusher's new base (``{path: sha256}``): the pushed files as they now are on the
    #: server, and for :attr:`newer` files the version pulled.
    files: dict[str, str]


def normalize(name: str) -> str:
    """A distribution name in its canonical form (PEP 503), as uv.lock writes it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalized distribution name a requirement starts with (``Six>=1.16`` -> ``six``)."""
    name = requirement.strip()
    for i, char in enumerate(name):
        if not (char.isalnum() or char in "-_."):
            name = name[:i]
            break
    return normalize(name)
