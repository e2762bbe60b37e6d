"""Accounts as people act on them: users (admins), tokens (each their own; admins anyone's),
the audit log (admins). Each method takes the acting :class:`Principal`, refuses before any
change, and writes the audit entry itself, so the API, the SDK and the CLI cannot differ."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.auth.audit import AuditEntry, AuditLog
from atelier.services.auth.principal import Principal
from atelier.services.auth.tokens import TokenInfo, Tokens
from atelier.services.auth.users import UserInfo, Users

ADMIN = ("admin",)
#: Viewers only use the apps shared with them: no tokens of their own to manage.
TOKEN_ROLES = ("admin", "scientist")


def require(principal: Principal, roles: Sequence[str], doing: str) -> None:
    if principal.role not in roles:
        raise PermissionDenied(
            f"{principal.name} ({principal.role}) may not {doing}: it needs {' or '.join(roles)}"
        )


class Accounts:
    def __init__(self, users: Users, tokens: Tokens, audit: AuditLog, *, token_days: int) -> None:
        self.users = users
        self.tokens = tokens
        self.audit = audit
        self.token_days = token_days

    # -- users ---------------------------------------------------------------------------

    def list_users(self, principal: Principal) -> list[UserInfo]:
        require(principal, ADMIN, "list users")
        return self.users.list()

    def create_user(
        self,
        principal: Principal,
        name: str,
        role: str,
        password: str | None,
        *,
        client: str | None = None,
    ) -> UserInfo:
        require(principal, ADMIN, "create users")
        user = self.users.create(name, role, password)
        self.audit.record(
            "user.create",
            actor=principal.name,
            target=user.name,
            client=client,
            detail={"role": user.role},
        )
        return user

    def change_user(
        self,
        principal: Principal,
        name: str,
        *,
        role: str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
        client: str | None = None,
    ) -> UserInfo:
        require(principal, ADMIN, "change users")
        self.users.get(name)  # NotFound before anything changes
        changes: dict[str, object] = {}
        if role is not None:
            self.users.set_role(name, role)
            changes["role"] = role
        if password is not None:
            self.users.set_password(name, password)
            changes["password"] = "changed"
        if disabled is not None:
            self.users.set_disabled(name, disabled)
            changes["disabled"] = disabled
        self.audit.record(
            "user.update", actor=principal.name, target=name, client=client, detail=changes
        )
        return self.users.get(name)

    # -- tokens --------------------------------------------------------------------------

    def list_tokens(
        self, principal: Principal, *, user: str | None = None, everyone: bool = False
    ) -> list[TokenInfo]:
        """Your tokens; an admin's: ``user``'s, or everyone's with ``everyone``."""
        require(principal, TOKEN_ROLES, "list tokens")
        if principal.role == "admin":
            owner = user if user else (None if everyone else principal.name)
        elif user and user != principal.name:
            raise PermissionDenied(
                f"{principal.name} ({principal.role}) may not list the tokens of {user}: "
                "it needs admin"
            )
        else:
            owner = principal.name
        return self.tokens.list(owner)

    def create_token(
        self,
        principal: Principal,
        name: str,
        *,
        days: int | None = None,
        user: str | None = None,
        client: str | None = None,
    ) -> tuple[TokenInfo, str]:
        """A personal token of ``user`` (admins only) or of the principal; returns its record
        and the plaintext, shown only now."""
        require(principal, TOKEN_ROLES, "create tokens")
        owner = user or principal.name
        if owner != principal.name and principal.role != "admin":
            raise PermissionDenied(
                f"{principal.name} ({principal.role}) may not create tokens for {owner}: "
                "it needs admin"
            )
        info, plaintext = self.tokens.create(owner, name, days or self.token_days)
        self.audit.record(
            "token.create",
            actor=principal.name,
            target=info.key,
            client=client,
            detail={"user": info.user},
        )
        return info, plaintext

    def revoke_token(
        self, principal: Principal, key: str, *, client: str | None = None
    ) -> TokenInfo:
        """Revoke the token ``key``: your own, or anyone's for an admin (others' are not found,
        so a guess tells nothing)."""
        require(principal, TOKEN_ROLES, "revoke tokens")
        owner = None if principal.role == "admin" else principal.name
        info = self.tokens.revoke(key, owner=owner)
        self.audit.record("token.revoke", actor=principal.name, target=key, client=client)
        return info

    def sign_out(self, principal: Principal, key: str, *, client: str | None = None) -> TokenInfo:
        """Revoke ``principal``'s own token ``key`` (``atelier logout``): any role may; another
        person's key is not found."""
        info = self.tokens.revoke(key, owner=principal.name)
        self.audit.record(
            "token.revoke",
            actor=principal.name,
            target=key,
            client=client,
            detail={"via": "logout"},
        )
        return info

    # -- audit ---------------------------------------------------------------------------

    def audit_entries(
        self,
        principal: Principal,
        *,
        limit: int = 100,
        before_id: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        require(principal, ADMIN, "read the audit log")
        if since is not None and until is not None and since >= until:
            raise InvalidInput("the date range is empty: 'since' must come before 'until'")
        return self.audit.entries(
            limit=limit, before_id=before_id, action=action, actor=actor, since=since, until=until
        )


def accounts_of(workbench: object) -> Accounts:
    """The accounts service of a workbench (its users, tokens, audit log and settings)."""
    wb = workbench
    return Accounts(
        wb.users,  # type: ignore[attr-defined]
        wb.tokens,  # type: ignore[attr-defined]
        wb.audit,  # type: ignore[attr-defined]
        token_days=wb.settings.auth.token_days,  # type: ignore[attr-defined]
    )
