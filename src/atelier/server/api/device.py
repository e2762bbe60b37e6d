"""Device sign-in (``atelier login URL``): a device asks for a code, a signed-in person confirms
it in the portal (``/device``), the device polls and receives a token of theirs once.

The two routes here are public (the device has no credentials yet); see
:mod:`atelier.services.auth.device` for the codes' lifetime, single use and back-off.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from atelier.contract import API_PREFIX
from atelier.contract.auth import (
    DEVICE_CODE_PATH,
    DEVICE_PAGE,
    DEVICE_TOKEN_PATH,
    DeviceCode,
    DevicePoll,
    DeviceStart,
    DeviceToken,
)
from atelier.server.api.deps import workbench
from atelier.server.security import signin_client
from atelier.services.auth.device import DeviceLogins
from atelier.services.workbench import Workbench

router = APIRouter(prefix="/device", tags=["device sign-in"])

#: The routes a device reaches before it has a token (listed in the auth middleware's public
#: paths).
PUBLIC = (API_PREFIX + DEVICE_CODE_PATH, API_PREFIX + DEVICE_TOKEN_PATH)


def device_logins(wb: Workbench) -> DeviceLogins:
    return DeviceLogins(
        wb.db, wb.tokens, wb.audit, wb.throttle, token_days=wb.settings.auth.token_days
    )


def portal_url(request: Request) -> str:
    """The portal's address: ``server.public_url`` when set (behind a proxy the request's own
    address may be an internal one), else the address the device reached."""
    configured: str = workbench(request).settings.server.public_url
    return (configured or str(request.base_url)).rstrip("/")


@router.post(DEVICE_CODE_PATH.removeprefix("/device"), status_code=201)
def start(body: DeviceStart, request: Request) -> DeviceCode:
    wb = workbench(request)
    started = device_logins(wb).start(body.name, signin_client(wb, request))
    page = portal_url(request) + DEVICE_PAGE
    return DeviceCode(
        device_code=started.device_code,
        user_code=started.user_code,
        verification_url=page,
        verification_url_complete=f"{page}?code={started.user_code}",
        interval=started.interval,
        expires_in=started.expires_in,
    )


@router.post(
    DEVICE_TOKEN_PATH.removeprefix("/device"),
    responses={202: {"model": DeviceToken, "description": "not confirmed yet"}},
)
def poll(body: DevicePoll, request: Request) -> DeviceToken:
    wb = workbench(request)
    approved = device_logins(wb).poll(body.device_code, signin_client(wb, request))
    if approved is None:
        pending = DeviceToken(status="pending")
        return JSONResponse(pending.model_dump(), status_code=202)  # type: ignore[return-value]
    return DeviceToken(
        status="approved",
        token=approved.token,
        key=approved.key,
        user=approved.user,
        role=approved.role,
        expires_at=approved.expires_at,
    )
