"""Data pages: the catalog (``/data``), a table (``/data/tables/{name}``), its profile, and the
attached sources (``/data/sources``; admins add and remove them here)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from atelier.errors import AtelierError
from atelier.server.api.deps import client, workbench
from atelier.server.pages import data_format as fmt
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal

router = APIRouter()


def _error(request: Request, exc: AtelierError, title: str) -> HTMLResponse:
    return render(
        request, "data/error.html", title=title, error=str(exc), status_code=exc.status_code
    )


@router.get("/data")
def catalog_page(
    request: Request, search: str = "", _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    entries = workbench(request).catalog.list(search or None)
    # The live search swaps only the list; a history restore needs the whole page.
    partial = request.headers.get("HX-Request") and not request.headers.get(
        "HX-History-Restore-Request"
    )
    template = "data/_tables.html" if partial else "data/catalog.html"
    return render(request, template, entries=entries, search=search, fmt=fmt)


@router.get("/data/tables/{name}")
def table_page(
    name: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    try:
        # Shown in the portal: raw with a grant; a token scraping the page counts as remote.
        remote = principal.via != "session"
        detail = workbench(request).catalog.describe(name, principal=principal, remote=remote)
    except AtelierError as exc:
        return _error(request, exc, name)
    table = detail.entry.name
    readers = [v for v in workbench(request).features.views() if table in v.upstream]
    pii = {tag.column: tag for tag in detail.pii.columns} if detail.pii else {}
    return render(
        request,
        "data/table.html",
        detail=detail,
        entry=detail.entry,
        fmt=fmt,
        readers=readers,
        pii=pii,
    )


@router.post("/data/tables/{name}")
def annotate_table(
    name: str,
    request: Request,
    description: str = Form(""),
    tags: str = Form(""),
    principal: Principal = allow("admin", "scientist"),
) -> Response:
    wb = workbench(request)
    error = None
    try:
        entry = wb.catalog.update(
            name,
            description=description,
            tags=tags.split(","),
            principal=principal,
            client=client(request),
        )
    except AtelierError as exc:
        if not request.headers.get("HX-Request"):
            return _error(request, exc, name)
        error = str(exc)
        entry = None
    if not request.headers.get("HX-Request"):
        return RedirectResponse(f"/data/tables/{name}", status_code=303)
    if entry is None:
        entry = wb.catalog.describe(name).entry
    return render(
        request,
        "data/_annotations.html",
        entry=entry,
        error=error,
        notice=None if error else "Saved.",
        status_code=200,
    )


@router.get("/data/tables/{name}/profile")
def profile_page(
    name: str,
    request: Request,
    version: int | None = None,
    principal: Principal = allow("admin", "scientist"),
) -> HTMLResponse:
    try:
        remote = principal.via != "session"  # as the table page
        profile = workbench(request).profiles.profile(
            name, version=version, principal=principal, remote=remote
        )
    except AtelierError as exc:
        return _error(request, exc, name)
    # The table's own number for the snapshot profiled, as the table page lists it.
    shown = None
    if profile.version is not None:
        at = workbench(request).catalog.version_at(name, profile.version)
        shown = at.number if at else None
    return render(request, "data/profile.html", profile=profile, fmt=fmt, number=shown)


def _sources_page(
    request: Request,
    *,
    error: str | None = None,
    notice: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    from atelier.services.catalog import SOURCE_TYPES

    return render(
        request,
        "data/sources.html",
        sources=workbench(request).sources.list(),
        types=SOURCE_TYPES,
        error=error,
        notice=notice,
        form=form or {},
        status_code=status_code,
    )


@router.get("/data/sources")
def sources_page(request: Request, _: Principal = allow("admin", "scientist")) -> HTMLResponse:
    return _sources_page(request)


@router.post("/data/sources")
def add_source(
    request: Request,
    name: str = Form(""),
    type: str = Form(""),
    description: str = Form(""),
    host: str = Form(""),
    port: str = Form(""),
    database: str = Form(""),
    user: str = Form(""),
    path: str = Form(""),
    bucket: str = Form(""),
    prefix: str = Form(""),
    region: str = Form(""),
    endpoint: str = Form(""),
    format: str = Form(""),
    table: str = Form(""),
    password: str = Form(""),
    key_id: str = Form(""),
    secret: str = Form(""),
    principal: Principal = allow("admin"),
) -> HTMLResponse:
    from atelier.services.catalog.kinds import KINDS

    given = {
        "host": host,
        "port": port,
        "database": database,
        "user": user,
        "path": path,
        "bucket": bucket,
        "prefix": prefix,
        "region": region,
        "endpoint": endpoint,
        "format": format,
        "table": table,
    }
    hidden = {"password": password, "key_id": key_id, "secret": secret}
    spec = KINDS.get(type)
    allowed = (*spec.required, *spec.optional) if spec else ()
    # The form shows every type's fields: keep those of the chosen type that were filled in.
    options = {k: v.strip() for k, v in given.items() if k in allowed and v.strip()}
    secrets = {k: v for k, v in hidden.items() if spec and k in spec.secrets and v}
    # Secrets are never echoed back into the form.
    shown = {"name": name, "type": type, "description": description, **given}
    try:
        info = workbench(request).sources.add(
            name.strip(),
            type,
            options=options,
            secrets=secrets,
            description=description.strip(),
            principal=principal,
            client=client(request),
        )
    except AtelierError as exc:
        return _sources_page(request, error=str(exc), form=shown, status_code=exc.status_code)
    return _sources_page(request, notice=f"Source {info.name} added.")


@router.post("/data/sources/{name}/remove")
def remove_source(
    name: str, request: Request, principal: Principal = allow("admin")
) -> HTMLResponse:
    try:
        workbench(request).sources.remove(name, principal=principal, client=client(request))
    except AtelierError as exc:
        return _sources_page(request, error=str(exc), status_code=exc.status_code)
    return _sources_page(request, notice=f"Source {name} removed.")
