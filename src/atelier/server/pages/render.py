"""Template rendering with what every page needs: the user, the CSRF token, the navigation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import atelier
from atelier.contract.display import number, timestamp
from atelier.services.auth import Principal

templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
# ``{{ x|num }}``: numbers with separators and significant digits; ``{{ t|when }}``: times
# to the second. Every page formats numbers and times through these two.
templates.env.filters["num"] = number
templates.env.filters["when"] = timestamp


def cell(value: Any) -> Any:
    """A result-grid value: floats to significant digits, times to the second (milliseconds
    only when the value has a fraction of a second); other values as they are."""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dt.datetime | dt.time):
        return timestamp(value, precise=True)
    return value


templates.env.filters["cell"] = cell

#: (label, path, roles that see it). Viewers only get the apps shared with them.
NAVIGATION = (
    ("Data", "/data", ("admin", "scientist")),
    ("Projects", "/projects", ("admin", "scientist")),
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
