"""Portal pages: projects (``/projects``) and one project (``/projects/{name}``) with its
members and its Python environment.

Package and member changes are HTMX forms that swap their section of the page; an error
(uv's reason when a package does not resolve) is shown inline in that section. HTMX only swaps
successful responses, so those answers are 200 with the error in the body; a plain form post
gets the error's own status code.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from atelier.errors import AtelierError
from atelier.server.api.deps import client, workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.projects import EDITING_ROLES, MEMBER_ROLES, Project

router = APIRouter()


def _htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _status(request: Request, exc: AtelierError) -> int:
    return 200 if _htmx(request) else exc.status_code


def _list_page(
    request: Request,
    principal: Principal,
    *,
    error: str | None = None,
    name: str = "",
    description: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    projects = workbench(request).projects.list()
    return render(
        request,
        "projects/list.html",
        projects=[(p, p.role_of(principal.name)) for p in projects],
        error=error,
        name=name,
        description=description,
        status_code=status_code,
    )


@router.get("/projects")
def projects_page(
    request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    return _list_page(request, principal)


@router.post("/projects", response_model=None)
def create_project(
    request: Request,
    name: str = Form(...),
    description: str = Form(""),
    principal: Principal = allow("admin", "scientist"),
) -> Response:
    try:
        project = workbench(request).projects.create(
            name.strip(), principal, description.strip(), client=client(request)
        )
    except AtelierError as exc:
        return _list_page(
            request,
            principal,
            error=str(exc),
            name=name,
            description=description,
            status_code=_status(request, exc),
        )
    target = f"/projects/{project.name}"
    if _htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _context(request: Request, principal: Principal, project: Project) -> dict[str, object]:
    role = project.role_of(principal.name)
    return {
        "project": project,
        "role": role,
        "can_change": role in EDITING_ROLES or principal.role == "admin",
        "can_manage": role == "owner" or principal.role == "admin",
        "member_roles": MEMBER_ROLES,
        "lab_url": f"/notebooks/lab/tree/{project.name}/notebooks/start.ipynb",
        "shared_url": f"/collab/{project.name}/lab/tree/notebooks/start.ipynb",
    }


def _project_page(
    request: Request,
    principal: Principal,
    name: str,
    *,
    template: str = "projects/page.html",
    env_error: str | None = None,
    members_error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    wb = workbench(request)
    try:
        project = wb.projects.get(name)
        environment = wb.projects.env.show(name)
    except AtelierError as exc:
        return render(
            request,
            "projects/missing.html",
            name=name,
            error=str(exc),
            status_code=exc.status_code,
        )
    return render(
        request,
        template,
        **_context(request, principal, project),
        environment=environment,
        env_error=env_error,
        members_error=members_error,
        notice=notice,
        status_code=status_code,
    )


@router.get("/projects/{name}")
def project_page(
    name: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    return _project_page(request, principal, name)


def _packages(text: str) -> list[str]:
    return [p for p in text.replace(",", " ").split() if p]


@router.post("/projects/{name}/env/add")
def add_packages(
    name: str,
    request: Request,
    packages: str = Form(""),
    principal: Principal = allow("admin", "scientist"),
) -> HTMLResponse:
    return _change_env(request, principal, name, "add", _packages(packages))


@router.post("/projects/{name}/env/remove")
def remove_packages(
    name: str,
    request: Request,
    packages: str = Form(""),
    principal: Principal = allow("admin", "scientist"),
) -> HTMLResponse:
    return _change_env(request, principal, name, "remove", _packages(packages))


def _change_env(
    request: Request, principal: Principal, name: str, verb: str, packages: list[str]
) -> HTMLResponse:
    env = workbench(request).projects.env
    change = env.add if verb == "add" else env.remove
    template = "projects/_env.html" if _htmx(request) else "projects/page.html"
    try:
        change(name, packages, principal, client=client(request))
    except AtelierError as exc:
        return _project_page(
            request,
            principal,
            name,
            template=template,
            env_error=str(exc),
            status_code=_status(request, exc),
        )
    done = "Added" if verb == "add" else "Removed"
    return _project_page(
        request, principal, name, template=template, notice=f"{done} {' '.join(packages)}."
    )


@router.post("/projects/{name}/members")
def add_member(
    name: str,
    request: Request,
    user: str = Form(...),
    role: str = Form("editor"),
    principal: Principal = allow("admin", "scientist"),
) -> HTMLResponse:
    return _change_members(request, principal, name, user.strip(), role)


@router.post("/projects/{name}/members/{user}/remove")
def remove_member(
    name: str, user: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    return _change_members(request, principal, name, user, None)


def _change_members(
    request: Request, principal: Principal, name: str, user: str, role: str | None
) -> HTMLResponse:
    projects = workbench(request).projects
    template = "projects/_members.html" if _htmx(request) else "projects/page.html"
    try:
        if role is None:
            projects.remove_member(name, user, principal, client=client(request))
        else:
            projects.add_member(name, user, principal, role=role, client=client(request))
    except AtelierError as exc:
        return _project_page(
            request,
            principal,
            name,
            template=template,
            members_error=str(exc),
            status_code=_status(request, exc),
        )
    return _project_page(request, principal, name, template=template)
