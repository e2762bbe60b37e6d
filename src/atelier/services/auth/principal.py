"""Who is acting: the authenticated user behind a request, a CLI call or an embedded client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role, "via": self.via}
