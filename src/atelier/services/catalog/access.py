"""Who may change data, and the audit entry each change leaves.

The data services (sources, the catalog, SQL, uploads, the feature store) call these with the
acting :class:`~atelier.services.auth.Principal` before any side effect, and record the audit
entry themselves, so that the portal, the API, the SDK and the CLI leave the same trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atelier.errors import PermissionDenied
from atelier.services.auth import AuditLog, Principal

#: The roles that work with data (viewers only use the apps shared with them).
BUILDERS = ("admin", "scientist")
ADMINS = ("admin",)


def check(
    principal: Principal, roles: Sequence[str], doing: str, scopes: Sequence[str] = ()
) -> None:
    """Refuse ``principal`` unless its role is one of ``roles`` and, for a token made for
    code, one of its scopes is in ``scopes`` (none given: closed to code tokens)."""
    if principal.scopes is not None and not principal.scopes & frozenset(scopes):
        raise PermissionDenied(
            f"the token {principal.label!r} is made for code and may not {doing}: it acts "
            f"for {principal.name} with the scopes {', '.join(sorted(principal.scopes))}"
        )
    if principal.role not in roles:
        raise PermissionDenied(
            f"{principal.name} ({principal.role}) may not {doing}: it needs {' or '.join(roles)}"
        )


def record(
    audit: AuditLog,
    action: str,
    principal: Principal,
    target: str | None,
    client: str | None,
    detail: dict[str, Any] | None = None,
    *,
    success: bool = True,
) -> None:
    """One audit entry for ``principal`` (with the code token's name, when one was used)."""
    if principal.label:
        detail = {**(detail or {}), "token": principal.label}
    audit.record(
        action, actor=principal.name, target=target, success=success, client=client, detail=detail
    )
