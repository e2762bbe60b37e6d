"""Projects and their Python environments.

A project is a folder ``<workspace>/projects/<name>/`` with ``notebooks/``, ``src/``, a
``pyproject.toml`` and ``uv.lock`` describing its environment, and a uv-made virtualenv in
``.venv`` (run by Atelier's own interpreter, with ipykernel, so each project is a Jupyter
kernel). Owners and editors change the environment with ``Environments.add``/``remove``;
uv resolves, locks and installs, and a failed change leaves the project exactly as it was.
The environment also sees Atelier's packages, after its own (see
:mod:`atelier.services.projects.layout`).
"""

from atelier.services.projects.environments import Environments, read_environment
from atelier.services.projects.model import (
    EDITING_ROLES,
    MEMBER_ROLES,
    NAME,
    Environment,
    LockedPackage,
    Member,
    Project,
    check_name,
    member_role,
    normalize,
    requirement_name,
)
from atelier.services.projects.projects import (
    Projects,
    project_name_for_path,
)

__all__ = [
    "EDITING_ROLES",
    "MEMBER_ROLES",
    "NAME",
    "Environment",
    "Environments",
    "LockedPackage",
    "Member",
    "Project",
    "Projects",
    "check_name",
    "member_role",
    "normalize",
    "project_name_for_path",
    "read_environment",
    "requirement_name",
]
