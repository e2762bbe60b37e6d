"""The home page (workspace overview) and the entry pages of each section."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from atelier.server.api.deps import workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import ROLES, Principal

router = APIRouter()

ICON = Path(__file__).parent.parent / "static" / "favicon.svg"

#: Sections not built yet: (title, blurb) per path, shown as a placeholder page.
SECTIONS: dict[str, tuple[str, str]] = {}


@router.get("/")
def home(request: Request, principal: Principal = allow(*ROLES)) -> HTMLResponse:
    wb = workbench(request)
    # Server internals (paths, database kind) are on /admin/server, for administrators.
    tokens = [t for t in wb.tokens.list(principal.name) if t.active]
    recent = wb.audit.entries(limit=8) if principal.role == "admin" else []
    return render(
        request,
        "home.html",
        tokens=tokens,
        recent=recent,
    )


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
