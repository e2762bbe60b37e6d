"""``ws.pii``: the personal-data tags of table columns, the same on both clients.

::

    ws.pii.get("bank.customers")["columns"]            # suggested and confirmed tags
    ws.pii.confirm("bank.customers", "email", "email")  # confirm, or change the kind
    ws.pii.remove("bank.customers", "segment")          # not personal data
    ws.pii.classify("bank.customers")                   # classify again
    ws.pii.mark("bank.customers", personal=True)        # the whole table is personal data

Owners of a table and admins change its tags; the service checks and audits each change. The
embedded client calls the workspace's service, the remote one ``/api/v1/tables/{name}/pii``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


class Pii(ABC):
    """Every method answers the table's tags as ``atelier.contract.pii.TablePii`` shapes."""

    @abstractmethod
    def get(self, table: str) -> dict[str, Any]:
        """The tags of ``table``'s columns and whether it is marked as personal data."""

    @abstractmethod
    def confirm(self, table: str, column: str, kind: str) -> dict[str, Any]:
        """Confirm ``column``'s tag as ``kind`` (or change it to that kind)."""

    @abstractmethod
    def remove(self, table: str, column: str) -> dict[str, Any]:
        """Remove ``column``'s tag."""

    @abstractmethod
    def classify(self, table: str) -> dict[str, Any]:
        """Classify ``table`` again; confirmed and removed tags are kept."""

    @abstractmethod
    def mark(self, table: str, *, personal: bool = True) -> dict[str, Any]:
        """Mark the whole table as personal data (``personal=False``: take the mark off)."""


def _shaped(data: dict[str, Any]) -> dict[str, Any]:
    from atelier.contract.pii import TablePii

    return TablePii.model_validate(data).model_dump(mode="json")


class EmbeddedPii(Pii):
    def __init__(self, workbench: Workbench, principal: Principal, client: str) -> None:
        self.service = workbench.pii_tags
        self.principal = principal
        self.client = client

    def get(self, table: str) -> dict[str, Any]:
        return _shaped(self.service.get(self.principal, table).as_dict())

    def confirm(self, table: str, column: str, kind: str) -> dict[str, Any]:
        done = self.service.confirm(self.principal, table, column, kind, client=self.client)
        return _shaped(done.as_dict())

    def remove(self, table: str, column: str) -> dict[str, Any]:
        done = self.service.remove(self.principal, table, column, client=self.client)
        return _shaped(done.as_dict())

    def classify(self, table: str) -> dict[str, Any]:
        return _shaped(self.service.classify(self.principal, table, client=self.client).as_dict())

    def mark(self, table: str, *, personal: bool = True) -> dict[str, Any]:
        done = self.service.mark(self.principal, table, personal=personal, client=self.client)
        return _shaped(done.as_dict())


class Transport(Protocol):
    """What the remote namespace needs of the remote client (no import of it: no cycle)."""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


class RemotePii(Pii):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def _call(self, method: str, table: str, tail: str = "", **kwargs: Any) -> dict[str, Any]:
        path = f"/tables/{quote(table, safe='')}/pii{tail}"
        return _shaped(self.client.request(method, path, **kwargs).json())

    def get(self, table: str) -> dict[str, Any]:
        return self._call("GET", table)

    def confirm(self, table: str, column: str, kind: str) -> dict[str, Any]:
        return self._call("PUT", table, f"/{quote(column, safe='')}", json={"kind": kind})

    def remove(self, table: str, column: str) -> dict[str, Any]:
        return self._call("DELETE", table, f"/{quote(column, safe='')}")

    def classify(self, table: str) -> dict[str, Any]:
        return self._call("POST", table, "/classify")

    def mark(self, table: str, *, personal: bool = True) -> dict[str, Any]:
        return self._call("PATCH", table, json={"personal": personal})
