"""The interface both clients implement; one test suite runs against both."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Client(ABC):
    """A connection to an Atelier workspace."""

    @abstractmethod
    def whoami(self) -> dict[str, Any]:
        """The user this client acts as: ``{"name", "role", "via"}``."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the client is unusable afterwards."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
