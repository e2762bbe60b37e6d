"""The workbench: every service of one workspace, wired once and shared by server and SDK."""

from __future__ import annotations

import getpass
import re
from functools import cached_property

from atelier.backends.metadata import Database
from atelier.config import Workspace
from atelier.services.auth import AuditLog, Principal, Sessions, Tokens, Users


class Workbench:
    def __init__(self, workspace: Workspace, *, migrate: bool = True) -> None:
        self.workspace = workspace
        self.settings = workspace.settings
        self.db = Database(workspace.metadata_url)
        if migrate:
            self.db.migrate()

    @cached_property
    def users(self) -> Users:
        return Users(self.db)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.db)

    @cached_property
    def sessions(self) -> Sessions:
        auth = self.settings.auth
        return Sessions(
            self.db, hours=self.settings.server.session_hours, link_minutes=auth.login_link_minutes
        )

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.db)

    def owner(self) -> Principal:
        """The workspace's local owner: the admin that the embedded client and CLI act as.

        In single-user mode it is created on first use, without a password (it logs in to
        the portal by one-time link). In team mode the CLI acts as this local admin too:
        whoever can read the workspace files controls the workspace anyway.
        """
        user = self.users.ensure(owner_name(), "admin")
        return Principal(user.id, user.name, user.role, "local")

    def close(self) -> None:
        self.db.dispose()


def owner_name() -> str:
    """The OS user name, made into a valid Atelier user name."""
    try:
        name = getpass.getuser().lower()
    except (KeyError, OSError):
        name = "owner"
    name = re.sub(r"[^a-z0-9._-]", "-", name)
    return name if name[:1].isalpha() else f"u{name}"[:64]
