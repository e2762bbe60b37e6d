"""``ws.saved_queries``: the SQL page's saved and shared queries, from Python.

::

    q = ws.saved_queries.create("churn by segment", "SELECT ...", shared=True)
    ws.saved_queries.list()                                 # own and shared, by name
    ws.sql(ws.saved_queries.get(q["id"])["sql"])
    ws.saved_queries.update(q["id"], sql="SELECT ..."); ws.saved_queries.delete(q["id"])

The embedded client calls the workspace's saved-query service (which holds the rules: others'
unshared queries do not exist for you, only the owner or an admin changes one); the remote one
``/api/v1/sql/saved``.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


class Transport(Protocol):
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


Row = dict[str, Any]


class SavedQueries(ABC):
    @abstractmethod
    def list(self) -> builtins.list[Row]:
        """Your saved queries and everyone's shared ones, by name."""

    @abstractmethod
    def get(self, saved_id: int) -> Row:
        """One saved query: ``id, name, sql, owner, shared, created_at, updated_at``."""

    @abstractmethod
    def create(self, name: str, sql: str, *, shared: bool = False) -> Row:
        """Save ``sql`` under a new ``name`` (Conflict when you have a query of that name)."""

    @abstractmethod
    def update(
        self,
        saved_id: int,
        *,
        name: str | None = None,
        sql: str | None = None,
        shared: bool | None = None,
    ) -> Row:
        """Change a query's name, SQL or sharing (its owner or an admin)."""

    @abstractmethod
    def delete(self, saved_id: int) -> None:
        """Delete a query (its owner or an admin)."""


class EmbeddedSavedQueries(SavedQueries):
    def __init__(self, workbench: Workbench, principal: Principal) -> None:
        self.service = workbench.saved_queries
        self.principal = principal

    def list(self) -> builtins.list[Row]:
        return [q.as_dict() for q in self.service.visible(self.principal)]

    def get(self, saved_id: int) -> Row:
        return self.service.get(self.principal, saved_id).as_dict()

    def create(self, name: str, sql: str, *, shared: bool = False) -> Row:
        return self.service.create(self.principal, name, sql, shared=shared).as_dict()

    def update(
        self,
        saved_id: int,
        *,
        name: str | None = None,
        sql: str | None = None,
        shared: bool | None = None,
    ) -> Row:
        changed = self.service.update(self.principal, saved_id, name=name, sql=sql, shared=shared)
        return changed.as_dict()

    def delete(self, saved_id: int) -> None:
        self.service.delete(self.principal, saved_id)


class RemoteSavedQueries(SavedQueries):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def list(self) -> builtins.list[Row]:
        from atelier.contract.saved_queries import SavedQueryInfo

        listed = self.client.request("GET", "/sql/saved").json()
        return [SavedQueryInfo(**q).model_dump() for q in listed]

    def get(self, saved_id: int) -> Row:
        return self._info(self.client.request("GET", f"/sql/saved/{int(saved_id)}"))

    def create(self, name: str, sql: str, *, shared: bool = False) -> Row:
        from atelier.contract.saved_queries import SavedQueryCreate

        body = SavedQueryCreate(name=name, sql=sql, shared=shared).model_dump()
        return self._info(self.client.request("POST", "/sql/saved", json=body))

    def update(
        self,
        saved_id: int,
        *,
        name: str | None = None,
        sql: str | None = None,
        shared: bool | None = None,
    ) -> Row:
        from atelier.contract.saved_queries import SavedQueryChange

        body = SavedQueryChange(name=name, sql=sql, shared=shared).model_dump(exclude_none=True)
        answer = self.client.request("PATCH", f"/sql/saved/{int(saved_id)}", json=body)
        return self._info(answer)

    def delete(self, saved_id: int) -> None:
        self.client.request("DELETE", f"/sql/saved/{int(saved_id)}")

    @staticmethod
    def _info(answer: httpx.Response) -> Row:
        from atelier.contract.saved_queries import SavedQueryInfo

        return SavedQueryInfo(**answer.json()).model_dump()
