"""Where MLflow would write, checked against the artifact store before it creates anything.

A client cannot name an artifact location itself (:mod:`atelier.services.tracking.locations`
refuses that), but a run, a logged model and a model version inherit one: a run writes under
its experiment's artifact location, a logged model too, and a model version points at its run's
or logged model's files. Experiments created before the gateway checked every spelling (or
directly on the backend store) may point elsewhere; here the gateway looks the parent up on
MLflow's own server and refuses to create children of a location outside the store, so nothing
new is ever written outside it. Uploads through the UI's ``upload-artifact`` are checked the
same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from atelier.services.tracking.locations import check_stored, spellings
from atelier.services.tracking.server import TrackingServer

_API = r"^/mlflow/(?:ajax-)?api/2\.0/mlflow/"
_RUN_CREATE = re.compile(_API + r"runs/create$")
_PROMPTLAB_RUN = re.compile(r"^/mlflow/ajax-api/2\.0/mlflow/runs/create-promptlab-run$")
_LOGGED_MODEL_CREATE = re.compile(_API + r"logged-models$")
_VERSION_CREATE = re.compile(_API + r"model-versions/create$")
_UPLOAD = re.compile(r"^/mlflow/ajax-api/2\.0/mlflow/upload-artifact$")
#: The experiment MLflow uses when a request names none.
DEFAULT_EXPERIMENT = "0"


async def lookup(
    server: TrackingServer, endpoint: str, params: dict[str, Any], keys: tuple[str, ...]
) -> str | None:
    """One string from MLflow's answer to ``GET /ajax-api/2.0/mlflow/<endpoint>``, or None."""

    def get() -> Any:
        response = server.request("GET", f"/ajax-api/2.0/mlflow/{endpoint}", params=params)
        return response.json() if response.status_code == 200 else None

    value = await run_in_threadpool(get)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, Mapping):
        return None
    for key in spellings(name):
        if body.get(key) not in (None, ""):
            return body[key]
    return None


async def check_targets(
    server: TrackingServer, method: str, path: str, body: Any, query: Mapping[str, str]
) -> None:
    """Refuse creating a run, logged model or model version, or uploading to a run, whose
    files would lie outside the artifact store."""
    if method != "POST":
        return
    if _RUN_CREATE.match(path) or _LOGGED_MODEL_CREATE.match(path):
        await _experiment(server, _field(body, "experiment_id"))
    elif _PROMPTLAB_RUN.match(path):
        experiment = body.get("experiment_id") if isinstance(body, Mapping) else None
        await _experiment(server, experiment)
    elif _VERSION_CREATE.match(path):
        source = _field(body, "source")
        if isinstance(source, str):
            await _source(server, source)
    elif _UPLOAD.match(path):
        # MLflow's handler reads run_uuid only (the guard refuses it given twice).
        await _run(server, query.get("run_uuid"))


async def _experiment(server: TrackingServer, experiment_id: Any) -> None:
    experiment_id = str(experiment_id or DEFAULT_EXPERIMENT)
    location = await lookup(
        server,
        "experiments/get",
        {"experiment_id": experiment_id},
        ("experiment", "artifact_location"),
    )
    if location is not None:
        root = server.store.artifacts_dir
        check_stored(f"experiment {experiment_id}'s artifact location", location, root)


async def _run(server: TrackingServer, run_id: Any) -> None:
    if not isinstance(run_id, str) or not run_id:
        return
    uri = await lookup(server, "runs/get", {"run_id": run_id}, ("run", "info", "artifact_uri"))
    if uri is not None:
        check_stored(f"run {run_id}'s artifact location", uri, server.store.artifacts_dir)


async def _source(server: TrackingServer, source: str) -> None:
    """A model version's files: the run's for ``runs:/<run>/…``, the logged model's for
    ``models:/<model id>``; other sources were checked by the guard already."""
    parts = urlsplit(source)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme == "runs" and segments:
        await _run(server, segments[0])
    elif parts.scheme == "models" and len(segments) == 1 and "@" not in segments[0]:
        model_id = segments[0]
        location = await lookup(
            server, f"logged-models/{model_id}", {}, ("model", "info", "artifact_uri")
        )
        if location is not None:
            root = server.store.artifacts_dir
            check_stored(f"logged model {model_id}'s artifact location", location, root)
