"""The home page: the person's own work (recent tables, projects, experiments and runs, jobs,
apps and the feedback waiting on them; for viewers, the apps shared with them) and the entry
pages of each section.

Each list comes from the service that owns it, which applies its own rules; the page only
gathers them. Server internals (paths, database kind) are on ``/admin/server``, for
administrators.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from atelier.server.api.deps import workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal
from atelier.services.catalog.access import BUILDERS
from atelier.services.workbench import Workbench

router = APIRouter()

ICON = Path(__file__).parent.parent / "static" / "favicon.svg"

#: Sections not built yet: (title, blurb) per path, shown as a placeholder page.
SECTIONS: dict[str, tuple[str, str]] = {}


#: How many entries each list of the home page shows.
SHOWN = 6


@router.get("/")
def home(request: Request, principal: Principal = allow(*ROLES)) -> HTMLResponse:
    wb = workbench(request)
    if principal.role not in BUILDERS:
        # Viewers use the apps shared with them, nothing else.
        shared = [a for a in wb.apps.registry.list(principal) if a.status == "running"]
        return render(request, "home.html", shared=shared)
    return render(request, "home.html", **_own_work(wb, principal))


def _own_work(wb: Workbench, principal: Principal) -> dict[str, Any]:
    from atelier.services.apps.waiting import waiting
    from atelier.services.query.recent import recent_tables
    from atelier.services.tracking.mine import mine

    # Read only when MLflow is up (the server starts it in the background): never waited for.
    tracking = mine(wb.tracking_server, principal, SHOWN)
    apps = [a for a in wb.apps.registry.list() if a.owner == principal.name]
    return {
        "tokens": [t for t in wb.tokens.list(principal.name) if t.active],
        "tables": recent_tables(wb.db, principal.name, SHOWN + 2),
        "projects": wb.projects.list(principal, mine=True, by=principal),
        "tracking": tracking,
        "jobs": wb.jobs.list(user=principal.name, limit=SHOWN),
        "apps": apps,
        "feedback": waiting(wb.db, principal.name),
        "recent": wb.audit.entries(limit=8) if principal.role == "admin" else [],
    }


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """The portal's icon (an SVG) where browsers look for it by default; public."""
    return FileResponse(
        ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


def _section_page(slug: str) -> None:
    title, blurb = SECTIONS[slug]

    def page(request: Request, _: Principal = allow("admin", "scientist")) -> HTMLResponse:
        return render(request, "section.html", title=title, blurb=blurb)

    router.add_api_route(f"/{slug}", page, methods=["GET"], name=f"section_{slug}")


for _slug in SECTIONS:
    _section_page(_slug)
