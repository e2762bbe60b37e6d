"""Who may use projects beyond roles and membership: what tokens made for code may do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from atelier.errors import PermissionDenied
from atelier.services.auth.scopes import PROJECTS

if TYPE_CHECKING:
    from atelier.services.auth import Principal


def check_code(principal: Principal, doing: str) -> None:
    """A token made for code reaches projects only with the projects scope."""
    if not principal.may(frozenset({PROJECTS})):
        raise PermissionDenied(
            f"the token {principal.label!r} is for code and may not {doing}: it acts for "
            f"{principal.name} with the scopes {', '.join(sorted(principal.scopes or ()))}"
        )


def people_only(principal: Principal, doing: str) -> None:
    """Tokens made for code may not do this, whatever their scopes."""
    if principal.scoped:
        raise PermissionDenied(
            f"the token {principal.label!r} is for code and may not {doing}: it acts for "
            f"{principal.name}"
        )
