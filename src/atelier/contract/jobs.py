"""Jobs on the wire: submitting one (with or without a working tree), a job, its log, profiles.

The API's ``/jobs`` and ``/profiles`` routes declare these as their bodies and responses; the
remote SDK client parses its answers with them.

A job that brings its working tree is sent to ``POST /jobs/tree`` as one streamed
``multipart/form-data`` body: first the field :data:`JOB_FIELD` (a :class:`NewJob` as JSON),
then the file :data:`TREE_FIELD`, the tree as :mod:`atelier.contract.trees` packs it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atelier.contract.trees import TREE_ARCHIVE

#: The multipart field that holds the job's request (JSON); it comes before the tree.
JOB_FIELD = "job"
#: The multipart file that holds the working tree.
TREE_FIELD = "tree"
TREE_MEDIA_TYPE = TREE_ARCHIVE


class NewJob(BaseModel):
    """``POST /jobs`` (and the ``job`` field of ``POST /jobs/tree``): what to run, where."""

    model_config = ConfigDict(extra="forbid")
    #: ``["train.py", "--epochs", "3"]``, ``["report.ipynb"]`` or a command and its arguments;
    #: files are found in the working tree sent along, else in the project's folder (or the
    #: workspace without a project).
    target: list[str] = Field(min_length=1, max_length=1000)
    project: str | None = Field(default=None, max_length=128)
    profile: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    #: ``NAME@ALIAS``, ``NAME/VERSION`` or ``NAME``: run in that model version's own
    #: environment (built from its captured lock) instead of a project's; a 503 while it builds.
    model_env: str | None = Field(default=None, max_length=300)
    #: With a working tree: the folder inside it the job was started from (``""``: its root);
    #: a script or notebook is looked for there first.
    cwd: str = Field(default="", max_length=4096)


class Job(BaseModel):
    """One job: what it runs, where, and how it went."""

    model_config = ConfigDict(extra="allow")
    id: int
    name: str
    #: ``script``, ``notebook`` or ``command``.
    kind: str
    project: str | None = None
    profile: str
    backend: str
    command: list[str] = []
    params: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    #: ``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``, ``timed_out``.
    state: str
    reason: str = ""
    notes: list[str] = []
    exit_code: int | None = None
    #: The folder the job runs in, on the server.
    workdir: str
    #: Whether the job runs in a working tree that was sent with it.
    tree: bool = False
    submitted_by: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    external_id: str | None = None
    mlflow_run_id: str | None = None
    #: The executed notebook, for notebook jobs (on the server).
    output: str | None = None
    #: Seconds it ran (so far, while it runs).
    duration: float | None = None
    final: bool = False


class LogChunk(BaseModel):
    """``GET /jobs/{id}/logs?offset=``: the log from ``offset``; poll with the returned
    ``offset`` until ``final`` and an empty ``text``."""

    text: str
    offset: int
    state: str
    final: bool


class ResourceSample(BaseModel):
    """One look at a job's processes: ``t`` seconds after it started, ``cpu`` percent of one
    core (200: two cores busy), ``memory`` resident bytes, over ``processes`` processes."""

    t: float
    cpu: float
    memory: int
    processes: int = 0


class JobSamples(BaseModel):
    """``GET /jobs/{id}/samples``: the job's CPU and memory over time; ``sampled`` is False
    where no sample was taken (a queued job, or one whose processes run on a cluster)."""

    job_id: int
    state: str
    backend: str
    sampled: bool
    interval: float
    samples: list[ResourceSample]


class Profile(BaseModel):
    """A compute profile, with whether the backend can run it now."""

    model_config = ConfigDict(extra="allow")
    name: str
    cpus: float
    memory: str
    gpus: int
    max_runtime: str
    backend: str
    description: str = ""
    default: bool = False
    available: bool = False
    #: The largest request the backend can place (``"4 CPUs, 8GB"``).
    offer: str = ""
    #: Why it cannot run now, when not ``available``.
    why: str = ""
