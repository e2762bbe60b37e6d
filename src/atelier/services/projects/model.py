"""What the projects service returns: projects, their members, and their environments."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from atelier.contract.projects import EDITING_ROLES as EDITING_ROLES
from atelier.contract.projects import MEMBER_ROLES as MEMBER_ROLES
from atelier.contract.projects import ROLE_ALIASES
from atelier.contract.projects import normalize as normalize
from atelier.contract.projects import requirement_name as requirement_name
from atelier.errors import InvalidInput

#: Project names: lower-case letters, digits, '-' and '_', starting and ending with a letter or
#: digit, so that the name is also a valid Python project name and a safe folder name.
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")


def member_role(role: str) -> str:
    """``role`` as stored: one of :data:`MEMBER_ROLES` (an earlier name is translated)."""
    role = ROLE_ALIASES.get(role, role)
    if role not in MEMBER_ROLES:
        raise InvalidInput(f"member role {role!r} does not exist: use {', '.join(MEMBER_ROLES)}")
    return role


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidInput(
            f"project name {name!r} is not allowed: use lower-case letters, digits, '-' or '_', "
            "starting and ending with a letter or digit (at most 64 characters)"
        )
    return name


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtualenv at ``venv``."""
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    added_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "added_at": self.added_at.isoformat()}


@dataclass(frozen=True)
class Project:
    """A project: the folder ``<workspace>/projects/<name>/`` and its environment."""

    name: str
    description: str
    path: Path
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    members: tuple[Member, ...] = ()

    @property
    def venv(self) -> Path:
        return self.path / ".venv"

    @property
    def python(self) -> Path:
        """The environment's interpreter: what kernels and jobs of this project run."""
        return venv_python(self.venv)

    @property
    def notebooks(self) -> Path:
        return self.path / "notebooks"

    def role_of(self, user: str) -> str | None:
        """``owner``, ``editor``, ``reader`` or None when ``user`` is not a member."""
        return next((m.role for m in self.members if m.name == user), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "path": str(self.path),
            "python": str(self.python),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "members": [m.as_dict() for m in self.members],
        }


@dataclass(frozen=True)
class LockedPackage:
    """One package of the lock: its exact version and whether the project asked for it."""

    name: str
    version: str
    direct: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "direct": self.direct}


@dataclass(frozen=True)
class Environment:
    """A project's environment: what it declares (``pyproject.toml``) and what is locked."""

    project: str
    python: str
    requires_python: str
    requirements: tuple[str, ...]
    packages: tuple[LockedPackage, ...] = field(default=())

    def version_of(self, package: str) -> str | None:
        wanted = normalize(package)
        return next((p.version for p in self.packages if p.name == wanted), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "python": self.python,
            "requires_python": self.requires_python,
            "requirements": list(self.requirements),
            "packages": [p.as_dict() for p in self.packages],
        }
