"""Logging in and out: password form (team mode), one-time links, logout.

Failed attempts are slowed down per account and per client address (see
:mod:`atelier.services.auth.throttle`): a locked attempt is refused before the password is
checked, with the same answer for a known and an unknown user name.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from atelier.errors import NotFound, PermissionDenied
from atelier.server.api.deps import client, workbench
from atelier.server.api.device import device_logins
from atelier.server.pages.render import render
from atelier.server.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    allow,
    signin_client,
)
from atelier.services.auth import ROLES, Principal
from atelier.services.auth.secrets import new_secret, same
from atelier.services.auth.throttle import TooManyAttempts, wait_text

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only local paths, so a login link cannot bounce the user to another site."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _login_form(
    request: Request,
    *,
    error: str | None = None,
    status_code: int = 200,
    name: str = "",
    next: str | None = None,
) -> HTMLResponse:
    token = new_secret(24)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        error=error,
        login_csrf=token,
        name=name,
        next=safe_next(next or request.query_params.get("next")),
        mode=workbench(request).settings.server.mode,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=workbench(request).settings.server.secure_cookies,
    )
    return response


def _too_many(
    request: Request, refused: TooManyAttempts, *, name: str = "", next: str | None = None
) -> HTMLResponse:
    response = _login_form(
        request,
        error=f"Too many attempts, try again in {wait_text(refused.retry_after)}.",
        status_code=429,
        name=name,
        next=next,
    )
    response.headers["Retry-After"] = str(refused.retry_after)
    return response


def _start_session(request: Request, user_id: int, target: str) -> Response:
    wb = workbench(request)
    secret = wb.sessions.start(user_id)
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        request.app.state.signer.sign(secret).decode(),
        max_age=int(wb.settings.server.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=wb.settings.server.secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    if getattr(request.state, "principal", None) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(request)


@router.post("/login")
def login(
    request: Request,
    name: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),
) -> Response:
    wb = workbench(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not same(expected, csrf_token):
        return _login_form(
            request,
            error="The form expired; please try again.",
            status_code=403,
            name=name,
            next=next,
        )
    tried = name.strip()
    # Unknown names are counted like real ones: a lock says nothing about who exists.
    account = ("account", tried.lower())
    try:
        attempt = wb.throttle.begin([account, ("client", signin_client(wb, request))])
    except TooManyAttempts as refused:
        return _too_many(request, refused, name=name, next=next)
    user = wb.users.verify_password(tried, password)
    if user is None:
        wb.throttle.failed(attempt, actor=tried[:64] or None, client=client(request))
        wb.audit.record(
            "login",
            actor=tried[:64] or None,
            success=False,
            client=client(request),
            detail={"method": "password"},
        )
        return _login_form(
            request, error="Wrong user name or password.", status_code=401, name=name, next=next
        )
    wb.throttle.succeeded(attempt, reset=[account])
    wb.audit.record("login", actor=user.name, client=client(request), detail={"method": "password"})
    return _start_session(request, user.id, next)


@router.get("/login/link")
def login_link(request: Request, code: str = "", next: str = "/") -> Response:
    wb = workbench(request)
    try:
        attempt = wb.throttle.begin([("client", signin_client(wb, request))])
    except TooManyAttempts as refused:
        return _too_many(request, refused)
    principal = wb.sessions.redeem_link(code) if code else None
    if principal is None:
        wb.throttle.failed(attempt, client=client(request))
        wb.audit.record(
            "login", actor=None, success=False, client=client(request), detail={"method": "link"}
        )
        return _login_form(
            request,
            status_code=401,
            error="This login link is unknown, already used or expired. "
            "Run `atelier login-link` for a new one.",
        )
    wb.throttle.succeeded(attempt)
    wb.audit.record(
        "login", actor=principal.name, client=client(request), detail={"method": "link"}
    )
    # ``next``: where the link leads after logging in (``atelier notebook`` opens JupyterLab).
    return _start_session(request, principal.user_id, next)


@router.post("/logout")
def logout(request: Request, principal: Principal = allow(*ROLES)) -> Response:
    wb = workbench(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and principal.via == "session":
        wb.sessions.end(request.app.state.signer.unsign(cookie).decode())
    wb.audit.record("logout", actor=principal.name, client=client(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/device")
def device_page(request: Request, code: str = "", principal: Principal = allow(*ROLES)) -> Response:
    """Confirm a device's sign-in (``atelier login URL``): the code it shows, then a button."""
    if not code.strip():
        return render(request, "device.html", code="", user=principal.name)
    wb = workbench(request)
    try:
        pending = device_logins(wb).describe(code, principal, signin_client(wb, request))
    except TooManyAttempts as refused:
        error, status = f"Too many wrong codes, try again in {wait_text(refused.retry_after)}.", 429
    except (NotFound, PermissionDenied) as refused:
        error, status = f"{refused}.", refused.status_code
    else:
        return render(request, "device.html", pending=pending, user=principal.name)
    return render(
        request, "device.html", status_code=status, error=error, code=code, user=principal.name
    )


@router.post("/device")
def device_confirm(
    request: Request,
    code: str = Form(""),
    action: str = Form(""),
    principal: Principal = allow(*ROLES),
) -> Response:
    """The person's answer; the CSRF token is checked by ``allow`` (a session's form)."""
    wb = workbench(request)
    if action not in ("confirm", "deny"):
        return render(
            request,
            "device.html",
            status_code=400,
            error="Confirm or deny.",
            code=code,
            user=principal.name,
        )
    try:
        name = device_logins(wb).confirm(
            code, principal, signin_client(wb, request), allow=action == "confirm"
        )
    except TooManyAttempts as refused:
        error, status = f"Too many wrong codes, try again in {wait_text(refused.retry_after)}.", 429
    except (NotFound, PermissionDenied) as refused:
        error, status = f"{refused}.", refused.status_code
    else:
        done = (
            f"{name} is signed in as {principal.name}: you can close this page."
            if action == "confirm"
            else f"The sign-in of {name} was denied."
        )
        return render(request, "device.html", done=done, user=principal.name)
    return render(
        request, "device.html", status_code=status, error=error, code=code, user=principal.name
    )
