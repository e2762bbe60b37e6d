"""Where uploads may go: the schemas a person may write uploaded tables into.

Uploads land in a schema chosen at upload (``schema.table``), not all in ``main``:

* ``main`` and other shared schemas (``bank``, created before this rule): everyone who
  uploads, as before;
* ``user_<name>``: that person's own (``user_ada``; ``.`` and ``-`` in a user name become
  ``_``), refused to everyone else;
* a project's schema (its name with ``-`` as ``_``: ``churn-sam`` writes ``churn_sam``):
  its members', refused to the other scientists.

Administrators write anywhere. The rule is checked by the ingest service before a byte is
read, so the portal, the API, the SDK and the CLI cannot differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from atelier.backends.metadata.models import ProjectMember, ProjectRecord, User
from atelier.contract.projects import EDITING_ROLES
from atelier.errors import PermissionDenied
from atelier.services.auth import Principal

if TYPE_CHECKING:
    from atelier.backends.metadata import Database

MAIN = "main"
USER_PREFIX = "user_"
_NOT_IDENTIFIER = re.compile(r"[^a-z0-9_]")


def user_schema(user: str) -> str:
    """The personal schema of ``user``: ``user_<name>``, lower case, '.' and '-' as '_'."""
    return USER_PREFIX + _NOT_IDENTIFIER.sub("_", user.lower())


def project_schema(project: str) -> str:
    """The schema of ``project``: its name with '-' as '_' (``churn-sam`` → ``churn_sam``)."""
    return _NOT_IDENTIFIER.sub("_", project.lower())


@dataclass(frozen=True)
class SchemaChoice:
    """A schema someone may upload into, as the portal offers it."""

    schema: str
    #: ``shared``, ``personal`` or ``project``.
    kind: str
    label: str


def choices(db: Database, principal: Principal) -> list[SchemaChoice]:
    """The schemas ``principal`` is offered at upload: ``main``, their own, their projects'
    (all projects for an administrator)."""
    found = [
        SchemaChoice(MAIN, "shared", "main (shared)"),
        SchemaChoice(
            user_schema(principal.name), "personal", f"{user_schema(principal.name)} (yours)"
        ),
    ]
    for project in _projects(db, principal.name if principal.role != "admin" else None):
        schema = project_schema(project)
        if schema not in {c.schema for c in found}:
            found.append(SchemaChoice(schema, "project", f"{schema} (project {project})"))
    return found


def check_write(db: Database, principal: Principal, schema: str) -> None:
    """Refuse ``principal`` writing a table into ``schema`` unless it is theirs (see the
    module's docstring); nothing has been read or written yet."""
    if principal.role == "admin":
        return
    wanted = schema.lower()
    if wanted == MAIN:
        return
    if wanted.startswith(USER_PREFIX):
        owners = [name for name in _user_names(db) if user_schema(name) == wanted]
        if owners != [principal.name]:
            # Two users whose names map to one schema (ada.lee, ada-lee): neither owns it.
            whose = (
                f"the personal schema of {' and '.join(sorted(owners))}"
                if owners
                else f"reserved: schemas named {USER_PREFIX}<name> are personal"
            )
            raise PermissionDenied(
                f"{principal.name} may not upload into schema {schema!r}: it is {whose}; "
                f"upload into {user_schema(principal.name)!r}, 'main' or a project's schema"
            )
        return
    projects = [p for p in _projects(db, None) if project_schema(p) == wanted]
    if not projects:
        return  # a shared schema, as uploads had before schemas were chosen
    mine = set(_projects(db, principal.name))
    if not mine.intersection(projects):
        raise PermissionDenied(
            f"{principal.name} may not upload into schema {schema!r}: it belongs to project "
            f"{projects[0]!r} and only its owners and editors (and admins) write there; "
            f"upload into {user_schema(principal.name)!r} or 'main'"
        )


def _projects(db: Database, member: str | None) -> list[str]:
    """Project names, all of them or those ``member`` edits (owners and editors: readers
    change none of a project's data)."""
    query = select(ProjectRecord.name).order_by(ProjectRecord.name)
    if member is not None:
        query = (
            query.join(ProjectMember, ProjectMember.project_id == ProjectRecord.id)
            .join(User, User.id == ProjectMember.user_id)
            .where(User.name == member, ProjectMember.role.in_(EDITING_ROLES))
        )
    with db.session() as session:
        return list(session.scalars(query))


def _user_names(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(User.name)))
