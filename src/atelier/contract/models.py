"""The model registry on the wire: registering, aliases, registered models, versions, cards.

The API's ``/models`` routes declare these as their bodies and responses; the remote SDK
client parses its answers with them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Registration(BaseModel):
    """``POST /models``: register the model a run logged as a new version."""

    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(max_length=64)
    name: str = Field(max_length=128)
    alias: str | None = Field(default=None, max_length=64)
    #: Which of the run's logged models, when it logged several.
    model: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=10_000)


class AliasChange(BaseModel):
    """``PUT /models/{name}/aliases/{alias}``: the version the alias points at."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


class RegisteredModel(BaseModel):
    """One registered model, as listed."""

    name: str
    description: str = ""
    latest_version: int | None = None
    #: Alias → version.
    aliases: dict[str, int] = {}
    registered_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class ModelVersion(BaseModel):
    """One version of a registered model."""

    name: str
    version: int
    aliases: list[str] = []
    run_id: str | None = None
    source: str | None = None
    status: str | None = None
    registered_by: str | None = None
    created_at: str | None = None


class ModelCard(ModelVersion):
    """A version with what it is, how good, on what data and in which environment."""

    model_config = ConfigDict(extra="allow")
    description: str = ""
    run_name: str | None = None
    experiment_id: str | None = None
    signature: dict[str, Any] | None = None
    flavors: list[str] = []
    model_id: str | None = None
    metrics: dict[str, Any] = {}
    params: dict[str, Any] = {}
    #: The warehouse tables and versions the run read: ``{"table", "version"}``.
    data_versions: list[dict[str, Any]] = []
    #: The model's input columns that hold personal data (run tag ``atelier.pii``): column
    #: -> kind.
    personal_data: dict[str, str] = {}
    #: Who ran it, project, profile, Python, git commit, lock and packages.
    environment: dict[str, Any] = {}
    #: Every alias of the model → version.
    all_aliases: dict[str, int] = {}
