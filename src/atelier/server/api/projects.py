"""Projects and their Python environments.

Scientists and admins see every project; members (and admins) change a project's environment,
owners (and admins) its members. Creating a project or changing an environment runs uv, which
may take a while on a first install: these routes run in the thread pool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from atelier.contract.projects import (
    EnvironmentOut,
    MemberOut,
    NewMember,
    NewProject,
    Packages,
    ProjectOut,
    PushResult,
)
from atelier.contract.trees import TREE_ARCHIVE
from atelier.server.api.deps import client, workbench
from atelier.server.body_limit import spooled_archive
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import PROJECTS
from atelier.services.projects import Project

router = APIRouter(prefix="/projects", tags=["projects"])


def project_dict(project: Project, principal: Principal) -> dict[str, Any]:
    """The project, and the caller's role in it (``owner``, ``editor``, ``reader`` or None)."""
    return {**project.as_dict(), "role": project.role_of(principal.name)}


@router.get("", response_model=list[ProjectOut])
def list_projects(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,))
) -> list[dict[str, Any]]:
    return [project_dict(p, principal) for p in workbench(request).projects.list(by=principal)]


@router.post("", status_code=201, response_model=ProjectOut)
def create_project(
    body: NewProject,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    project = workbench(request).projects.create(
        body.name, principal, body.description, client=client(request), git_url=body.from_git
    )
    return project_dict(project, principal)


@router.get("/{name}", response_model=ProjectOut)
def get_project(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    return project_dict(workbench(request).projects.get(name, by=principal), principal)


@router.get("/{name}/members", response_model=list[MemberOut])
def list_members(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> list[dict[str, Any]]:
    return [m.as_dict() for m in workbench(request).projects.get(name, by=principal).members]


@router.post("/{name}/members", status_code=201, response_model=list[MemberOut])
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


@router.get("/{name}/env", response_model=EnvironmentOut)
def show_env(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    return workbench(request).projects.env.show(name, by=principal).as_dict()


@router.post("/{name}/env", response_model=EnvironmentOut)
def add_packages(
    name: str,
    body: Packages,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    env = workbench(request).projects.env
    return env.add(name, body.packages, principal, client=client(request)).as_dict()


@router.delete("/{name}/env", response_model=EnvironmentOut)
def remove_packages(
    name: str,
    body: Packages,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    env = workbench(request).projects.env
    return env.remove(name, body.packages, principal, client=client(request)).as_dict()


@router.post("/{name}/env/sync", response_model=EnvironmentOut)
def sync_env(
    name: str,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(PROJECTS,)),
) -> dict[str, Any]:
    env = workbench(request).projects.env
    return env.sync(name, principal, client=client(request)).as_dict()


# Pull and push are for people (members and admins), not for the code of jobs, notebooks or
# apps: their tokens name no scope here.


@router.get(
    "/{name}/files",
    response_class=Response,
    responses={200: {"content": {TREE_ARCHIVE: {}}, "description": "The files, as tar.gz"}},
)
def pull(
    name: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> Response:
    archive = workbench(request).projects.files.pull_file(name, principal, client=client(request))
    return StreamingResponse(
        iter(lambda: archive.read(2**20), b""),
        media_type=TREE_ARCHIVE,
        headers={"Content-Disposition": f'attachment; filename="{name}.tar.gz"'},
        background=BackgroundTask(archive.close),
    )


@router.post(
    "/{name}/files",
    response_model=PushResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {TREE_ARCHIVE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def push(
    name: str,
    request: Request,
    force: bool = False,
    principal: Principal = allow("admin", "scientist"),
) -> PushResult:
    """The body is the tree as tar.gz (see ``atelier.contract.trees``), read only once the
    caller is known; ``force`` overwrites files that changed on the server since the pull."""
    files = workbench(request).projects.files
    # Members only, checked (and a refusal audited) before the body is read.
    await run_in_threadpool(
        files.projects.require_member,
        name,
        principal,
        action="project.push",
        client=client(request),
        people_only="push projects",
    )
    with await spooled_archive(request) as body:
        return await run_in_threadpool(
            files.push, name, body, principal, force=force, client=client(request)
        )
