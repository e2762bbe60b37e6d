"""Apps' images on the wire: ``POST /apps/{name}/image`` and ``GET /apps/{name}/image/context``.

A generated app's image is its model version's image with the app's page; a hosted app's is
its folder on its project's locked environment (docs/containers.md, "Apps").
"""

from __future__ import annotations

from pydantic import BaseModel

from atelier.contract.images import ImageBuild


class AppImageBuild(ImageBuild):
    """``POST /apps/{name}/image`` (and the query of ``GET .../image/context``): as for a
    model's image; the default name is ``atelier-app/<app>:v<model version>`` (a hosted app's
    ``:latest``)."""


class AppImageBuilt(BaseModel):
    app: str
    #: ``model`` (generated), ``streamlit`` or ``dash``.
    kind: str
    #: The model and version a generated app's image serves (None for a hosted app).
    model: str | None = None
    version: int | None = None
    #: The project whose uv.lock a hosted app's image installs (None for a generated app).
    project: str | None = None
    image: str
    image_id: str
    size: int
    engine: str
    base: str
    lock_sha256: str
    labels: dict[str, str] = {}
    seconds: float
    built_by: str
    built_at: str
