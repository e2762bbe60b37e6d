"""``ws.accounts``: users, tokens and the audit log from Python, the same for both clients.

::

    ws.accounts.users(); ws.accounts.create_user("grace", "scientist", password)
    token = ws.accounts.create_token("laptop", days=30)["token"]   # shown only now
    ws.accounts.tokens(); ws.accounts.revoke_token(key); ws.accounts.audit(limit=20)

The embedded client calls the workspace's accounts service (which checks roles and writes the
audit log); the remote one ``/api/v1/users``, ``/tokens``, ``/audit``.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


class Transport(Protocol):
    """What the remote namespace needs of the remote client (no import of it: no cycle)."""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


Rows = list[dict[str, Any]]


class Accounts(ABC):
    @abstractmethod
    def users(self) -> Rows:
        """Every user (admins only)."""

    @abstractmethod
    def create_user(self, name: str, role: str, password: str) -> dict[str, Any]:
        """A new user with a password (admins only)."""

    @abstractmethod
    def change_user(
        self,
        name: str,
        *,
        role: str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> dict[str, Any]:
        """Another role, password or state for ``name`` (admins only)."""

    @abstractmethod
    def tokens(self, *, user: str | None = None, everyone: bool = False) -> Rows:
        """Your tokens (never their secrets); an admin's: ``user``'s or ``everyone``'s."""

    @abstractmethod
    def create_token(
        self, name: str, *, days: int | None = None, user: str | None = None
    ) -> dict[str, Any]:
        """A personal token (``user``: for someone else, admins only); ``["token"]`` holds
        the plaintext, shown only now."""

    @abstractmethod
    def revoke_token(self, key: str) -> dict[str, Any]:
        """Revoke a token by its key: your own, or anyone's for an admin."""

    @abstractmethod
    def audit(self, *, limit: int = 100, action: str | None = None) -> Rows:
        """The audit log, newest first (admins only)."""


class EmbeddedAccounts(Accounts):
    def __init__(self, workbench: Workbench, principal: Principal, client: str) -> None:
        from atelier.services.auth.accounts import accounts_of

        self.service = accounts_of(workbench)
        self.principal = principal
        self.client = client

    def users(self) -> Rows:
        return [u.as_dict() for u in self.service.list_users(self.principal)]

    def create_user(self, name: str, role: str, password: str) -> dict[str, Any]:
        made = self.service.create_user(self.principal, name, role, password, client=self.client)
        return made.as_dict()

    def change_user(
        self,
        name: str,
        *,
        role: str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> dict[str, Any]:
        changed = self.service.change_user(
            self.principal,
            name,
            role=role,
            password=password,
            disabled=disabled,
            client=self.client,
        )
        return changed.as_dict()

    def tokens(self, *, user: str | None = None, everyone: bool = False) -> Rows:
        listed = self.service.list_tokens(self.principal, user=user, everyone=everyone)
        return [t.as_dict() for t in listed]

    def create_token(
        self, name: str, *, days: int | None = None, user: str | None = None
    ) -> dict[str, Any]:
        info, plaintext = self.service.create_token(
            self.principal, name, days=days, user=user, client=self.client
        )
        return {**info.as_dict(), "token": plaintext}

    def revoke_token(self, key: str) -> dict[str, Any]:
        return self.service.revoke_token(self.principal, key, client=self.client).as_dict()

    def audit(self, *, limit: int = 100, action: str | None = None) -> Rows:
        entries = self.service.audit_entries(self.principal, limit=limit, action=action)
        return [e.as_dict() for e in entries]


class RemoteAccounts(Accounts):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, **kwargs).json()

    def users(self) -> Rows:
        from atelier.contract.auth import UserInfo

        return [UserInfo(**u).model_dump() for u in self._json("GET", "/users")]

    def create_user(self, name: str, role: str, password: str) -> dict[str, Any]:
        body = {"name": name, "role": role, "password": password}
        made: dict[str, Any] = self._json("POST", "/users", json=body)
        return made

    def change_user(
        self,
        name: str,
        *,
        role: str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> dict[str, Any]:
        body = {
            key: value
            for key, value in (("role", role), ("password", password), ("disabled", disabled))
            if value is not None
        }
        changed: dict[str, Any] = self._json("PATCH", f"/users/{quote(name)}", json=body)
        return changed

    def tokens(self, *, user: str | None = None, everyone: bool = False) -> Rows:
        params: dict[str, Any] = {"all": "true"} if everyone else {}
        if user:
            params["user"] = user
        listed: Rows = self._json("GET", "/tokens", params=params)
        return listed

    def create_token(
        self, name: str, *, days: int | None = None, user: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if days is not None:
            body["days"] = days
        if user:
            body["user"] = user
        made: dict[str, Any] = self._json("POST", "/tokens", json=body)
        return made

    def revoke_token(self, key: str) -> dict[str, Any]:
        revoked: dict[str, Any] = self._json("DELETE", f"/tokens/{quote(key)}")
        return revoked

    def audit(self, *, limit: int = 100, action: str | None = None) -> Rows:
        params: dict[str, Any] = {"limit": limit}
        if action:
            params["action"] = action
        entries: Rows = self._json("GET", "/audit", params=params)
        return builtins.list(entries)
