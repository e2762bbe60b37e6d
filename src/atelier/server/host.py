"""What the machine that holds a workspace does for the CLI's host commands (``up``, ``demo``,
``login-link``, ``notebook``, ``serve``): the pieces of those commands that are not SDK calls,
so that the CLI itself never imports a service."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench


def server_up(url: str) -> bool:
    """Whether an Atelier server answers at ``url``."""
    from atelier.services.jobs.links import server_up as probe

    return probe(url)


def login_link(wb: Workbench, me: Principal, user: str, *, client: str, next: str = "") -> str:
    """A one-time portal login link for ``user`` (someone else's: admins only), audited."""
    from urllib.parse import quote

    from atelier.errors import PermissionDenied

    if user != me.name and me.role != "admin":
        raise PermissionDenied(
            f"{me.name} ({me.role}) may not make login links for {user}: it needs admin"
        )
    code = wb.sessions.create_link(user)
    wb.audit.record("login_link.create", actor=me.name, target=user, client=client)
    suffix = f"&next={quote(next, safe='')}" if next else ""
    return f"{wb.workspace.public_url}/login/link?code={code}{suffix}"


def load_demo(
    wb: Workbench, me: Principal, scale: float, progress: Callable[[str], None]
) -> list[str]:
    """Load the demo bank, train and publish its model and app (what exists is kept); the
    lines to show."""
    from atelier.services.demo.load import load_demo as load_bank
    from atelier.services.demo.model import publish_demo_app

    counts = load_bank(
        wb.warehouse,
        scale=scale,
        author=me.name,
        progress=lambda s: progress(f"Demo bank: {s}"),
        pii_tags=wb.pii_tags,
    )
    progress("Checking the demo churn model")
    published = publish_demo_app(wb, me, progress=lambda step: progress(f"Demo: {step}"))
    lines = []
    if counts:
        summary = ", ".join(f"{table} {rows:,}" for table, rows in counts.items())
        lines.append(f"Loaded the demo bank into schema bank: {summary}")
    return [*lines, *published.notes]


@dataclass(frozen=True)
class Endpoint:
    """How to call a served model: its name, version, flavours, URL and an example request."""

    name: str
    version: int
    flavors: list[str]
    url: str
    example: str


def model_endpoint(wb: Workbench, model: str) -> Endpoint:
    """The prediction endpoint of ``model`` (``NAME@ALIAS`` or ``NAME``), after checking that
    it loads and has a column signature."""
    from atelier.errors import InvalidInput
    from atelier.services.tracking.references import parse_reference

    ref = parse_reference(model)
    loaded = wb.serving.model(ref)
    if loaded.schema is None:
        raise InvalidInput(
            f"model {loaded.name} version {loaded.version} has no column signature: log it "
            "with a signature to serve it"
        )
    query = f"?alias={ref.alias}" if ref.alias else f"?version={loaded.version}"
    url = f"{wb.workspace.public_url}/api/v1/models/{loaded.name}/predict{query}"
    example = json.dumps(loaded.example[0] if loaded.example else {})
    return Endpoint(loaded.name, loaded.version, list(loaded.flavors), url, example)
