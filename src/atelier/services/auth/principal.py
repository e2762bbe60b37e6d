"""Who is acting: the authenticated user behind a request, a CLI call or an embedded client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: Roles from most to least powerful. Viewers only use the apps shared with them.
ROLES = ("admin", "scientist", "viewer")

Via = Literal["token", "session", "local"]


@dataclass(frozen=True)
class Principal:
    user_id: int
    name: str
    role: str
    via: Via
    #: Set for web sessions: state-changing requests must echo it.
    csrf_token: str | None = None
    #: None: the user's full rights (a person). A set: a token made for code (an app, a job,
    #: a notebook), which reaches only the routes that declare one of these scopes.
    scopes: frozenset[str] | None = None
    #: The name of the token used, for code tokens ("app churn", "job 12", "notebook ada").
    label: str | None = None

    @property
    def scoped(self) -> bool:
        return self.scopes is not None

    def may(self, scopes: frozenset[str]) -> bool:
        """Whether a route that declares ``scopes`` is open to this caller."""
        return self.scopes is None or bool(self.scopes & scopes)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "role": self.role, "via": self.via}
        if self.scopes is not None:
            found["scopes"] = sorted(self.scopes)
            found["token"] = self.label
        return found
