"""Accounts on the wire: who am I, device sign-in (``atelier login URL``), users and tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Where a device code is confirmed, in the portal (``?code=`` fills it in).
DEVICE_PAGE = "/device"
#: The public routes of a device sign-in, under the API prefix.
DEVICE_CODE_PATH = "/device/code"
DEVICE_TOKEN_PATH = "/device/token"


class Me(BaseModel):
    name: str
    role: str
    via: str
    scopes: list[str] | None = None
    token: str | None = None


class DeviceStart(BaseModel):
    """What a device asks for: a token named after it (``laptop``, the host name)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="device", min_length=1, max_length=64)


class DeviceCode(BaseModel):
    """The answer to :class:`DeviceStart`: the device keeps ``device_code`` secret and polls
    with it every ``interval`` seconds; the person types ``user_code`` at ``verification_url``
    (or opens ``verification_url_complete``) while signed in to the portal."""

    device_code: str
    user_code: str
    verification_url: str
    verification_url_complete: str
    interval: int
    expires_in: int


class DevicePoll(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_code: str = Field(min_length=1, max_length=256)


class DeviceToken(BaseModel):
    """``pending`` until someone confirms the code in the portal; then, once, ``approved``
    with the token (only then are the other fields set)."""

    status: Literal["pending", "approved"]
    token: str | None = None
    key: str | None = None
    user: str | None = None
    role: str | None = None
    expires_at: str | None = None


class TokenInfo(BaseModel):
    id: int
    key: str
    name: str
    user: str
    created_at: str
    expires_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None
    scopes: list[str] | None = None
    active: bool


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    days: int | None = None
    #: Admins only: make the token for another user.
    user: str | None = None


class CreatedToken(TokenInfo):
    #: The plaintext, shown only in this answer.
    token: str


class UserInfo(BaseModel):
    id: int
    name: str
    role: str
    disabled: bool
    has_password: bool
    created_at: str


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    role: str
    password: str


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    disabled: bool | None = None
    password: str | None = None
