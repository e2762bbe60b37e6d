"""Portal pages: feature views (``/features``) and one view (``/features/{view}``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from atelier.errors import AtelierError
from atelier.server.api.deps import workbench
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal

router = APIRouter()


@router.get("/features")
def features_page(
    request: Request, search: str = "", _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    store = workbench(request).features
    views = store.views(search=search or None)
    template = "features/_views.html" if request.headers.get("HX-Request") else "features/list.html"
    return render(
        request,
        template,
        views=views,
        search=search,
        services=store.services(),
        training_sets=store.training_sets(),
    )


def _view_page(
    request: Request, name: str, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    try:
        info = workbench(request).features.view(name)
    except AtelierError as exc:
        return render(
            request, "features/missing.html", name=name, error=str(exc), status_code=exc.status_code
        )
    return render(request, "features/view.html", view=info, error=error, status_code=status_code)


@router.get("/features/{name}")
def view_page(
    name: str, request: Request, _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    return _view_page(request, name)


@router.post("/features/{name}/statistics")
def refresh_statistics(
    name: str, request: Request, _: Principal = allow("admin", "scientist")
) -> HTMLResponse:
    try:
        workbench(request).features.statistics(name)
    except AtelierError as exc:
        return _view_page(request, name, error=str(exc), status_code=exc.status_code)
    return _view_page(request, name)
