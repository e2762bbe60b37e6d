"""The API's role and scope rules, for what works on a workspace without the HTTP API: the
CLI on a workspace, and ``atelier run`` handed to a running server
(:mod:`atelier.server.local_runs`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from atelier.errors import PermissionDenied

if TYPE_CHECKING:
    from atelier.services.auth import Principal

#: The roles the API lets use data, features, jobs, projects and apps (viewers only use apps).
BUILDERS = ("admin", "scientist")
EVERYONE = ("admin", "scientist", "viewer")


def local_admin_notice(principal: Principal) -> str | None:
    """What a command says when it acts as the local admin (no ATELIER_TOKEN)."""
    if principal.via != "local":
        return None
    return f"acting as local admin {principal.name!r} (set ATELIER_TOKEN to act as yourself)"


def require(
    principal: Principal, roles: Sequence[str], doing: str, scopes: Sequence[str] = ()
) -> None:
    """The API's role and scope rules, for the CLI: refuse with a message that names the
    person (or the code token)."""
    if not principal.may(frozenset(scopes)):
        raise PermissionDenied(
            f"the token {principal.label!r} is made for code and may not {doing}: it acts "
            f"for {principal.name} with the scopes {', '.join(sorted(principal.scopes or ()))}"
        )
    if principal.role not in roles:
        raise PermissionDenied(
            f"{principal.name} ({principal.role}) may not {doing}: it needs "
            f"{' or '.join(roles)} (ATELIER_TOKEN names {principal.name})"
        )
