"""Template rendering with what every page needs: the user, the CSRF token, the navigation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import atelier
from atelier.services.auth import Principal

templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")

#: (label, path, roles that see it). Viewers only get the apps shared with them.
NAVIGATION = (
    ("Data", "/data", ("admin", "scientist")),
    ("Notebooks", "/projects", ("admin", "scientist")),
    ("Experiments", "/experiments", ("admin", "scientist")),
    ("Jobs", "/jobs", ("admin", "scientist")),
    ("Features", "/features", ("admin", "scientist")),
    ("Models", "/models", ("admin", "scientist")),
    ("Apps", "/apps", ("admin", "scientist", "viewer")),
    ("Admin", "/admin/users", ("admin",)),
)


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    nav = [
        (label, path)
        for label, path, roles in NAVIGATION
        if principal is not None and principal.role in roles
    ]
    return templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "csrf_token": principal.csrf_token if principal else None,
            "nav": nav,
            "path": request.url.path,
            "version": atelier.__version__,
            **context,
        },
        status_code=status_code,
    )
