"""``ws.pii_grants``: raw-access grants to personal data and the masking rules, from Python.

::

    ws.pii_grants.rules()                                   # each kind's masking rule
    g = ws.pii_grants.add("sam", table="bank.customers", reason="fraud case 42", days=7)
    ws.pii_grants.list(); ws.pii_grants.revoke(g["id"])

Admins add and revoke grants (for others: nobody grants themselves anything unless an admin);
everyone lists their own. The embedded client calls the workspace's grants service (which checks
roles and writes the audit log); the remote one ``/api/v1/pii/grants`` and ``/pii/rules``.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


class Transport(Protocol):
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


Rows = list[dict[str, Any]]


class PiiGrants(ABC):
    @abstractmethod
    def list(self, *, user: str | None = None, everything: bool = False) -> Rows:
        """Active grants, newest first (``everything``: expired and revoked too); an admin's:
        everyone's or ``user``'s, anyone else's: their own."""

    @abstractmethod
    def add(
        self,
        user: str,
        *,
        table: str | None = None,
        kind: str | None = None,
        reason: str,
        days: int | None = None,
        expires_at: datetime | None = None,
        export: bool = False,
    ) -> dict[str, Any]:
        """Raw access for ``user`` to ``table`` or to ``kind`` (admins only)."""

    @abstractmethod
    def revoke(self, grant_id: int) -> dict[str, Any]:
        """End a grant now (admins only)."""

    @abstractmethod
    def rules(self) -> Rows:
        """The masking rule of each kind of personal data."""


class EmbeddedPiiGrants(PiiGrants):
    def __init__(self, workbench: Workbench, principal: Principal, client: str) -> None:
        from atelier.services.pii.grants import grants_of

        self.workbench = workbench
        self.service = grants_of(workbench)
        self.principal = principal
        self.client = client

    def list(self, *, user: str | None = None, everything: bool = False) -> Rows:
        listed = self.service.list_grants(self.principal, user=user, everything=everything)
        return [grant.as_dict() for grant in listed]

    def add(
        self,
        user: str,
        *,
        table: str | None = None,
        kind: str | None = None,
        reason: str,
        days: int | None = None,
        expires_at: datetime | None = None,
        export: bool = False,
    ) -> dict[str, Any]:
        made = self.service.grant(
            self.principal,
            user,
            table=table,
            kind=kind,
            reason=reason,
            days=days,
            expires_at=expires_at,
            export=export,
            client=self.client,
        )
        return made.as_dict()

    def revoke(self, grant_id: int) -> dict[str, Any]:
        return self.service.revoke(self.principal, grant_id, client=self.client).as_dict()

    def rules(self) -> Rows:
        from atelier.services.pii.policies import policies_of

        return policies_of(self.workbench).describe()


class RemotePiiGrants(PiiGrants):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def list(self, *, user: str | None = None, everything: bool = False) -> Rows:
        from atelier.contract.pii_grants import GrantInfo

        params: dict[str, Any] = {"all": "true"} if everything else {}
        if user:
            params["user"] = user
        listed = self.client.request("GET", "/pii/grants", params=params).json()
        return [GrantInfo(**grant).model_dump() for grant in listed]

    def add(
        self,
        user: str,
        *,
        table: str | None = None,
        kind: str | None = None,
        reason: str,
        days: int | None = None,
        expires_at: datetime | None = None,
        export: bool = False,
    ) -> dict[str, Any]:
        from atelier.contract.pii_grants import GrantInfo, NewGrant

        body = NewGrant(
            user=user,
            table=table,
            kind=kind,
            reason=reason,
            days=days,
            expires_at=expires_at,
            export=export,
        )
        made = self.client.request(
            "POST", "/pii/grants", json=body.model_dump(mode="json", exclude_none=True)
        )
        return GrantInfo(**made.json()).model_dump()

    def revoke(self, grant_id: int) -> dict[str, Any]:
        from atelier.contract.pii_grants import GrantInfo

        revoked = self.client.request("DELETE", f"/pii/grants/{int(grant_id)}").json()
        return GrantInfo(**revoked).model_dump()

    def rules(self) -> Rows:
        from atelier.contract.pii_grants import MaskingRule

        found = self.client.request("GET", "/pii/rules").json()
        return builtins.list(MaskingRule(**rule).model_dump() for rule in found)
