"""Model images on the wire: build, container test, push (``/models/{name}/image...``).

The model version is named as for the card: ``?alias=`` or ``?version=`` (else the latest).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

ENGINE_PATTERN = r"^(auto|podman|docker|buildah)$"
#: An image name (``team/churn:v3``, ``registry.example.org:5000/team/churn:v3``).
IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._/:-]{0,254}$"
#: A base image (``python:3.11-slim``, ``localhost/atelier-python:bookworm``, a digest).
BASE_PATTERN = r"^[A-Za-z0-9][\w./:@-]*$"


class ImageBuild(BaseModel):
    """``POST /models/{name}/image`` (and the query of ``GET .../image/context``)."""

    model_config = ConfigDict(extra="forbid")
    engine: str | None = Field(default=None, pattern=ENGINE_PATTERN)
    #: The base image (default: ``containers.base_image``).
    base: str | None = Field(default=None, max_length=255, pattern=BASE_PATTERN)
    #: The image's name (default ``atelier-model/<name>:v<version>``).
    tag: str | None = Field(default=None, pattern=IMAGE_PATTERN)


class ImageBuilt(BaseModel):
    model: str
    version: int
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


class ImageTest(BaseModel):
    """``POST /models/{name}/image/test``."""

    model_config = ConfigDict(extra="forbid")
    #: The image to test (default: the one built last for this version).
    image: str | None = Field(default=None, pattern=IMAGE_PATTERN)
    engine: str | None = Field(default=None, pattern=ENGINE_PATTERN)
    #: How many recent predictions of the version to send besides its input example (topped
    #: up with rows of its training tables when it served fewer).
    sample: int = Field(default=20, ge=0, le=1000)


class ImageTested(BaseModel):
    passed: bool
    mismatches: list[str] = []
    start_to_first_prediction_seconds: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_max: float | None = None
    #: The container's last output, when it did not answer.
    logs: str = ""
    model: str
    version: int
    image: str
    image_id: str
    size: int
    engine: str
    records: int
    #: How many records came from the input example, recent predictions and training rows.
    sources: dict[str, int] = {}
    #: The same, as a sentence ("2 of the input example, 1 recent prediction").
    sampled: str = ""
    tested_by: str
    tested_at: str


class ImagePush(BaseModel):
    """``POST /models/{name}/image/push``."""

    model_config = ConfigDict(extra="forbid")
    #: ``host[:port][/path]``: the image goes there as ``<registry>/<name>:v<version>``.
    registry: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][\w./:-]*$")
    #: Push even without a passing container test of this image.
    force: bool = False
    #: False: a registry over plain HTTP or with a self-signed certificate.
    tls_verify: bool = True
    engine: str | None = Field(default=None, pattern=ENGINE_PATTERN)


class ImagePushed(BaseModel):
    image: str
    target: str
    image_id: str
    tested: bool
    pushed_by: str
    pushed_at: str


class BaseImage(BaseModel):
    """``POST /models/base-image``: make the default base image (admins)."""

    model_config = ConfigDict(extra="forbid")
    engine: str | None = Field(default=None, pattern=ENGINE_PATTERN)
    rebuild: bool = False


class BaseImageMade(BaseModel):
    image: str
    engine: str
    message: str


class ImageStatus(BaseModel):
    """``GET /models/{name}/image``: what was built, tested and pushed for the version."""

    image: ImageBuilt | None = None
    test: ImageTested | None = None
    push: ImagePushed | None = None
