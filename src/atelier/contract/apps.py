"""Apps on the wire: publishing, hosting, sharing, using them and their feedback.

The API's ``/apps`` routes declare these as their bodies and responses; the remote SDK client
parses its answers with them. A hosted app's folder travels as one gzip-compressed tar archive
(:data:`BUNDLE_MEDIA_TYPE`) in the body of ``POST /apps/deploy/bundle``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: The body of a folder deployment: a tar archive, gzip-compressed, by the rules of
#: :mod:`atelier.contract.trees` (its limits included).
BUNDLE_MEDIA_TYPE = "application/gzip"


class NewApp(BaseModel):
    """``POST /apps``: publish an app generated from a registered model."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=128)
    model: str = Field(description="NAME@ALIAS, NAME/VERSION or NAME of a registered model")
    title: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=10_000)


class HostedApp(BaseModel):
    """``POST /apps/deploy``: host one Streamlit or Dash script."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=128)
    script: str = Field(description="the app's Python source")
    project: str | None = None
    kind: str | None = Field(default=None, description="streamlit or dash (default: detected)")
    filename: str = Field(default="app.py", max_length=255)
    title: str = Field(default="", max_length=255)


class Share(BaseModel):
    """``POST /apps/{name}/share``: add users, share with everyone, or stop sharing."""

    model_config = ConfigDict(extra="forbid")
    users: list[str] = []
    everyone: bool | None = None
    remove: list[str] = []


class FeedbackIn(BaseModel):
    """``POST /apps/{name}/feedback``: a verdict on a prediction made through the app."""

    model_config = ConfigDict(extra="forbid")
    prediction_id: str = Field(max_length=64)
    verdict: str = Field(description="right or wrong")
    correct_value: str | None = None
    comment: str = Field(default="", max_length=10_000)


class App(BaseModel):
    """An app: generated from a model (``kind`` model) or hosted (streamlit, dash)."""

    name: str
    kind: str
    title: str
    description: str = ""
    #: The model a generated app serves (``NAME@ALIAS``, ``NAME/VERSION``).
    model: str | None = None
    #: The project whose environment runs a hosted app.
    project: str | None = None
    #: ``running`` or ``paused``.
    status: str
    shared_with_all: bool = False
    shared_with: list[str] = []
    owner: str
    #: Its address on the server (``/apps/NAME`` or ``/apps/NAME/``).
    url: str
    created_at: str
    updated_at: str


class FormField(BaseModel):
    """One input of a generated app's form."""

    name: str
    type: str
    widget: str
    required: bool = True
    default: Any = None
    options: list[Any] = []
    #: The kind of personal data the field holds (``email``...): masked where it is logged.
    personal: str | None = None


class PersonalField(BaseModel):
    """A field of a generated app's requests that holds personal data: masked in the
    prediction log and in feedback."""

    name: str
    kind: str
    source: str = Field(description="training (the run's atelier.pii tag), classifier or owner")


class MarkPersonal(BaseModel):
    """``POST /apps/{name}/personal``: the owner marks a field of a generated app."""

    model_config = ConfigDict(extra="forbid")
    field: str = Field(max_length=255)
    kind: str = Field(
        max_length=64,
        description="a kind of personal data (email, person_name...), none (not personal) "
        "or auto (take the mark off)",
    )


class AppDetail(App):
    """An app with, for a generated one, its form and the model version it serves now."""

    form: list[FormField] | None = None
    model_version: int | None = None
    #: The personal fields of a generated app's requests.
    personal: list[PersonalField] | None = None


class Prediction(BaseModel):
    """One prediction: its ``id`` (which feedback quotes), the value and probabilities."""

    model_config = ConfigDict(extra="allow")
    model: str
    version: int
    id: str
    prediction: Any = None
    probability: float | None = None
    probabilities: dict[str, float] | None = None


class PredictionOf(BaseModel):
    """One prediction of a batch."""

    model_config = ConfigDict(extra="allow")
    id: str
    prediction: Any = None
    probability: float | None = None
    probabilities: dict[str, float] | None = None


class PredictionBatch(BaseModel):
    """The answer to a batch of records: the model, its version, one prediction each."""

    model: str
    version: int
    predictions: list[PredictionOf]


class Serving(BaseModel):
    """The version that would serve a model: its inputs, an example, classes, its card."""

    model_config = ConfigDict(extra="allow")
    endpoint: str
    name: str
    version: int
    aliases: list[str] = []
    description: str | None = None
    created_at: str | None = None
    flavors: list[str] = []
    inputs: list[dict[str, Any]] | None = None
    classes: list[Any] | None = None
    example: list[dict[str, Any]] | None = None


class FeedbackEntry(BaseModel):
    """A verdict given on a prediction, with the prediction as it was logged."""

    id: int
    app: str
    prediction_id: str
    model: str | None = None
    model_version: int | None = None
    verdict: str
    correct_value: str | None = None
    #: The value to train on: the correct value given, or the prediction when it was right.
    label: str | None = None
    comment: str = ""
    user: str
    created_at: str
    inputs: Any = None
    prediction: Any = None
    probability: float | None = None


class FeedbackSummary(BaseModel):
    """Agreement per model version, recent comments, latest entries, and the warehouse table."""

    app: str
    total: int
    right: int
    wrong: int
    agreement: float | None = None
    by_version: list[dict[str, Any]] = []
    comments: list[FeedbackEntry] = []
    entries: list[FeedbackEntry] = []
    table: str


class AppLogs(BaseModel):
    """The last lines a hosted app wrote, and how its process is doing."""

    app: str
    #: ``running``, ``starting``, ``crashed``..., ``paused`` or ``idle`` (not started).
    state: str
    restarts: int = 0
    #: The exit code of its process's last run, if it ever ended.
    last_exit: int | None = None
    logs: str = ""
