"""Apps' images on the wire: ``POST /apps/{name}/image`` and ``GET /apps/{name}/image/context``.

A generated app's image is its model version's image with the app's page; a hosted app's is
its folder on its project's locked environment (docs/containers.md, "Apps").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from atelier.contract.images import ENGINE_PATTERN, IMAGE_PATTERN


class AppImageBuild(BaseModel):
    """``POST /apps/{name}/image`` (and the query of ``GET .../image/context``)."""

    model_config = ConfigDict(extra="forbid")
    engine: str | None = Field(default=None, pattern=ENGINE_PATTERN)
    #: The base image (default: ``containers.base_image``).
    base: str | None = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9][\w./:@-]*$")
    #: The image's name (default ``atelier-app/<app>:v<model version>``, hosted ``:latest``).
    tag: str | None = Field(default=None, pattern=IMAGE_PATTERN)


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
