"""Administration pages: users, API tokens, the audit log and the raw reads of personal
data."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

import atelier
from atelier.errors import AtelierError, InvalidInput
from atelier.server.api.deps import client, workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal
from atelier.services.auth.owner import owner_name
from atelier.services.pii.audit import KINDS, RawRead, RawReadAudit

router = APIRouter()


def _users_page(
    request: Request, *, error: str | None = None, notice: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "admin/users.html",
        users=workbench(request).users.list(),
        roles=ROLES,
        # The OS user's passwordless admin (made by `atelier up` or local CLI use) is labelled.
        local_owner=owner_name(),
        error=error,
        notice=notice,
        status_code=status_code,
    )


@router.get("/admin/users")
def users_page(request: Request, _: Principal = allow("admin")) -> HTMLResponse:
    return _users_page(request)


@router.post("/admin/users")
def create_user(
    request: Request,
    name: str = Form(...),
    role: str = Form(...),
    password: str = Form(...),
    principal: Principal = allow("admin"),
) -> HTMLResponse:
    wb = workbench(request)
    try:
        user = wb.users.create(name.strip(), role, password)
    except AtelierError as exc:
        return _users_page(request, error=str(exc), status_code=exc.status_code)
    wb.audit.record(
        "user.create",
        actor=principal.name,
        target=user.name,
        client=client(request),
        detail={"role": role},
    )
    return _users_page(request, notice=f"User {user.name} created.")


@router.post("/admin/users/{name}")
def update_user(
    name: str,
    request: Request,
    role: str = Form(...),
    disabled: bool = Form(False),
    principal: Principal = allow("admin"),
) -> HTMLResponse:
    wb = workbench(request)
    try:
        if name == principal.name and (role != "admin" or disabled):
            raise AtelierError("you cannot demote or disable your own account")
        wb.users.set_role(name, role)
        wb.users.set_disabled(name, disabled)
    except AtelierError as exc:
        return _users_page(request, error=str(exc), status_code=exc.status_code)
    wb.audit.record(
        "user.update",
        actor=principal.name,
        target=name,
        client=client(request),
        detail={"role": role, "disabled": disabled},
    )
    return _users_page(request, notice=f"User {name} updated.")


def _tokens_page(
    request: Request,
    principal: Principal,
    *,
    new_token: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    show_all = principal.role == "admin"
    tokens = workbench(request).tokens.list(None if show_all else principal.name)
    return render(
        request,
        "admin/tokens.html",
        tokens=tokens,
        new_token=new_token,
        error=error,
        show_all=show_all,
        status_code=status_code,
    )


@router.get("/admin/tokens")
def tokens_page(
    request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    return _tokens_page(request, principal)


@router.post("/admin/tokens")
def create_token(
    request: Request,
    name: str = Form(...),
    days: int = Form(90),
    principal: Principal = allow("admin", "scientist"),
) -> HTMLResponse:
    wb = workbench(request)
    try:
        info, plaintext = wb.tokens.create(principal.name, name, days)
    except AtelierError as exc:
        return _tokens_page(request, principal, error=str(exc), status_code=exc.status_code)
    wb.audit.record("token.create", actor=principal.name, target=info.key, client=client(request))
    return _tokens_page(request, principal, new_token=plaintext)


@router.post("/admin/tokens/{key}/revoke")
def revoke_token(
    key: str, request: Request, principal: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    wb = workbench(request)
    try:
        wb.tokens.revoke(key, owner=None if principal.role == "admin" else principal.name)
    except AtelierError as exc:
        return _tokens_page(request, principal, error=str(exc), status_code=exc.status_code)
    wb.audit.record("token.revoke", actor=principal.name, target=key, client=client(request))
    return _tokens_page(request, principal)


@router.get("/admin/audit")
def audit_page(
    request: Request, before_id: int | None = None, _: Principal = allow("admin")
) -> HTMLResponse:
    entries = workbench(request).audit.entries(limit=100, before_id=before_id)
    return render(request, "admin/audit.html", entries=entries)


#: Raw reads shown per page.
RAW_READS_PAGE = 100


@router.get("/admin/audit/raw-reads")
def raw_reads_page(
    request: Request,
    user: str = "",
    table: str = "",
    kind: str = "",
    since: str = "",
    until: str = "",
    before_id: int | None = None,
    principal: Principal = allow("admin"),
) -> HTMLResponse:
    """Who read personal data raw: every ``pii.raw_read`` entry, newest first, filtered by
    user, table, kind and dates (``since`` and ``until`` are days, both included)."""
    filters = {"user": user, "table": table, "kind": kind, "since": since, "until": until}
    reads: list[RawRead] = []
    error = None
    status = 200
    try:
        start = _day(since, "since")
        end = _day(until, "until")
        wb = workbench(request)
        reads = RawReadAudit(wb.db, wb.audit).entries(
            principal,
            user=user.strip() or None,
            table=table.strip() or None,
            kind=kind or None,
            since=datetime.combine(start, time(), UTC) if start else None,
            until=datetime.combine(end + timedelta(days=1), time(), UTC) if end else None,
            limit=RAW_READS_PAGE,
            before_id=before_id,
        )
    except AtelierError as exc:
        error, status = str(exc), exc.status_code
    return render(
        request,
        "admin/raw_reads.html",
        reads=reads,
        filters=filters,
        kinds=KINDS,
        page=RAW_READS_PAGE,
        error=error,
        status_code=status,
    )


def _day(text: str, name: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{name}: {text!r} is not a day (YYYY-MM-DD)") from None


@router.get("/admin/server")
def server_page(request: Request, _: Principal = allow("admin")) -> HTMLResponse:
    """Where the workspace lives and what it runs on: for administrators only."""
    wb = workbench(request)
    details = {
        "Workspace": str(wb.workspace.root),
        "Mode": wb.settings.server.mode,
        "Metadata database": wb.db.engine.dialect.name,
        "Compute": wb.settings.compute.backend,
        "Version": atelier.__version__,
        "Users": f"{wb.users.count():,}",
    }
    return render(request, "admin/server.html", details=details)
