"""The feature store on the wire: definitions applied, their diff, materializations and saved
training sets. Entity frames, training sets and online values travel as Arrow IPC streams
(:data:`atelier.contract.ARROW_STREAM`) where the client accepts them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApplyRequest(BaseModel):
    """``POST /features/apply``: definitions in their plain-data form (as in features.yaml;
    a client reads a project's ``features.py`` or ``features.yaml`` and ships this)."""

    model_config = ConfigDict(extra="forbid")
    #: ``{"entities": [...], "views": [...], "services": [...]}`` as in features.yaml.
    definitions: dict[str, Any]
    project: str | None = None
    dry_run: bool = True


class Change(BaseModel):
    """One line of the diff: ``action`` create, update, delete or unchanged."""

    kind: str = Field(description="entity, view or service")
    name: str
    action: str
    details: list[str] = []
    version: int | None = None


class ApplyPlan(BaseModel):
    """The diff ``apply`` shows first; ``blocked`` lists why it cannot be applied."""

    project: str
    changes: list[Change] = []
    blocked: list[str] = []
    applied: bool = False


class MaterializeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    views: list[str] | None = None
    incremental: bool = False


class Materialized(BaseModel):
    """One view written to the online store."""

    view: str
    version: int
    mode: str = Field(description="full or incremental")
    entities: int
    store: str
    seconds: float


class TrainingSetRequest(BaseModel):
    """``POST /features/training-set`` as JSON: the entities are a table."""

    model_config = ConfigDict(extra="forbid")
    #: A warehouse table of entity keys and event times (+ labels).
    entities: str
    features: list[str] | str
    timestamp: str | None = None
    save_as: str | None = None
    full_names: bool = False
    project: str | None = None


class SavedTrainingSet(BaseModel):
    """A training set saved as a warehouse table (answered when Arrow is not accepted)."""

    name: str | None = None
    rows: int
    training_set: str | None = None
    training_set_version: int | None = None
    features: list[str] = []
    feature_views: dict[str, int] = {}
    #: Columns that hold personal data: column -> kind.
    pii: dict[str, str] = {}


class OnlineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Key columns: ``{"customer_id": [1, 2]}``.
    keys: dict[str, list[Any]]
    features: list[str] | str
    project: str | None = None


class TrainingSetInfo(BaseModel):
    """One saved version of a training set, with the feature-view versions that made it."""

    name: str
    version: int
    features: list[str] = []
    feature_views: dict[str, int] = {}
    entities: str | None = None
    rows: int
    created_by: str | None = None
    created_at: str
