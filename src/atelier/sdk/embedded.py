"""The embedded client: services called in-process on a local workspace (no server needed)."""

from __future__ import annotations

from typing import Any

from atelier.config import Workspace
from atelier.sdk.client import Client
from atelier.services.workbench import Workbench


class EmbeddedClient(Client):
    def __init__(self, workspace: Workspace) -> None:
        self.workbench = Workbench(workspace)
        self.principal = self.workbench.owner()

    def whoami(self) -> dict[str, Any]:
        return self.principal.as_dict()

    def close(self) -> None:
        self.workbench.close()

    def __repr__(self) -> str:
        return f"<EmbeddedClient {self.workbench.workspace.root}>"
