"""Projects and their Python environments.

Scientists and admins see every project; members (and admins) change a project's environment,
owners (and admins) its members. Creating a project or changing an environment runs uv, which
may take a while on a first install: these routes run in the thread pool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from atelier.server.api.deps import client, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import PROJECTS
from atelier.services.projects import Project

router = APIRouter(prefix="/projects", tags=["projects"])


class NewProject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=10_000)


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(max_length=64)
    role: str = "member"


class Packages(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Requirements as uv takes them: ``lightgbm``, ``six==1.17.0``, ``pandas>=2``.
    packages: list[str] = Field(min_length=1, max_length=50)


def project_dict(project: Project, principal: Principal) -> dict[str, Any]:
    """The project, and the caller's role in it (``owner``, ``member`` or None)."""
    return {**project.as_dict(), "role": project.role_of(principal.name)}


@router.get("")
def list_projects(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,))
) -> list[dict[str, Any]]:
    return [project_dict(p, principal) for p in workbench(request).projects.list()]


@router.post("", status_code=201)
def create_project(
    body: NewProject,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    project = workbench(request).projects.create(
        body.name, principal, body.description, client=client(request)
    )
    return project_dict(project, principal)


@router.get("/{name}")
def get_project(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    return project_dict(workbench(request).projects.get(name), principal)


@router.get("/{name}/members")
def list_members(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(PROJECTS,))
) -> list[dict[str, Any]]:
    return [m.as_dict() for m in workbench(request).projects.get(name).members]


@router.post("/{name}/members", status_code=201)
def add_member(
    name: str, body: NewMember, request: Request, principal: Principal = allow("admin", "scientist")
) -> list[dict[str, Any]]:
    project = workbench(request).projects.add_member(
        name, body.user, principal, role=body.role, client=client(request)
    )
    return [m.as_dict() for m in project.members]


@router.delete("/{name}/members/{user}", status_code=204)
def remove_member(
    name: str, user: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> Response:
    workbench(request).projects.remove_member(name, user, principal, client=client(request))
    return Response(status_code=204)


@router.get("/{name}/env")
def show_env(
    name: str, request: Request, _: Principal = allow("admin", "scientist", scopes=(PROJECTS,))
) -> dict[str, Any]:
    return workbench(request).projects.env.show(name).as_dict()


@router.post("/{name}/env")
def add_packages(
    name: str,
    body: Packages,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    env = workbench(request).projects.env
    return env.add(name, body.packages, principal, client=client(request)).as_dict()


@router.delete("/{name}/env")
def remove_packages(
    name: str,
    body: Packages,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    env = workbench(request).projects.env
    return env.remove(name, body.packages, principal, client=client(request)).as_dict()
