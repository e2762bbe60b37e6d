"""One run as the portal shows it: parameters, metrics over steps, artifacts, environment.

::

    details = Runs(workbench.tracking_server).get(principal, "3", "1f2e…")
    details.history["loss"]      # [{"step": 0, "value": 0.9, "timestamp": …}, …]
    details.charts["loss"]       # Vega-Lite: the metric over steps

Read from MLflow's server over its private socket, like the experiment pages
(:mod:`.experiments`): what the page shows is what MLflow holds. A run is shown under the
experiment it belongs to; another experiment's id in the address is a missing page, not the run
under a wrong heading. Who may *register* the run's model is the registry's rule
(:meth:`atelier.services.tracking.registry.ModelRegistry.may_register_from`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError, NotFound
from atelier.services.tracking.environment import ENVIRONMENT_TAG
from atelier.services.tracking.experiments import (
    LOCK_ARTIFACT,
    _check_reader,
    artifact_text,
    data_versions,
    run_summary,
    when,
)
from atelier.services.tracking.personal import pii_columns

if TYPE_CHECKING:
    from atelier.services.auth import Principal
    from atelier.services.tracking.server import TrackingServer

RUN_ID = re.compile(r"[0-9a-zA-Z_-]{1,64}")
#: The most metrics drawn as charts (the table lists every one).
MAX_CHARTS = 24
#: The most points read per metric (MLflow's history of one metric can be long).
MAX_POINTS = 5_000
#: The most artifact files listed.
MAX_ARTIFACTS = 500


@dataclass
class RunDetails:
    """What the run page shows; ``run`` is :func:`.experiments.run_summary`'s summary."""

    experiment: dict[str, Any]
    run: dict[str, Any]
    ended: str
    history: dict[str, list[dict[str, Any]]]
    charts: dict[str, dict[str, Any]]
    artifacts: list[dict[str, Any]]
    environment: dict[str, str]
    data_versions: list[dict[str, Any]]
    personal_data: dict[str, str]
    system_tags: dict[str, str] = field(default_factory=dict)


def metric_chart(key: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Vega-Lite: metric ``key`` over its steps (line and points, a tooltip per point)."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "description": f"{key} over steps",
        "data": {"values": [{"step": p["step"], "value": p["value"]} for p in points]},
        "width": "container",
        "height": 160,
        "mark": {"type": "line", "point": len(points) <= 60, "tooltip": True},
        "encoding": {
            "x": {
                "field": "step",
                "type": "quantitative",
                "title": "step",
                "axis": {"tickMinStep": 1, "format": "d"},
            },
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": key,
                "scale": {"zero": False},
            },
        },
    }


def run_git(tags: dict[str, str]) -> dict[str, str]:
    """The project's commit the run ran from. A run Atelier captured has it as
    ``atelier.git.commit`` or not at all (the project was no repository); MLflow's own tag is
    trusted only on runs started elsewhere, where it names the script's repository."""
    if tags.get("atelier.capture"):
        commit = tags.get("atelier.git.commit", "")
        branch = tags.get("atelier.git.branch", "")
    else:
        commit = tags.get("mlflow.source.git.commit", "")
        branch = tags.get("mlflow.source.git.branch", "")
    if not commit:
        return {}
    dirty = tags.get("atelier.git.dirty") == "true"
    return {"commit": commit, "branch": branch, "dirty": "true" if dirty else ""}


def run_lineage(tags: dict[str, str]) -> dict[str, Any]:
    """The training set and feature views the run trained on (the tags
    :func:`atelier.services.features.lineage.run_tags` writes)."""
    found: dict[str, Any] = {"training_set": None, "feature_views": []}
    training = tags.get("atelier.training_set", "")
    if training.startswith("sha256:"):
        found["training_set"] = {"digest": training.removeprefix("sha256:")}
    elif training:
        table, _, number = training.rpartition("@")
        if table and number.isdigit():
            found["training_set"] = {"table": table, "version": int(number)}
        else:
            found["training_set"] = {"table": training, "version": None}
    for entry in filter(None, tags.get("atelier.feature_views", "").split(",")):
        view, _, number = entry.strip().rpartition("@")
        view, number = (view, number) if view else (number, "")
        found["feature_views"].append(
            {"name": view, "version": int(number) if number.isdigit() else None}
        )
    return found if found["training_set"] or found["feature_views"] else {}


def run_tags_shown(tags: dict[str, str]) -> dict[str, str]:
    """The run's own tags (not MLflow's ``mlflow.*`` nor Atelier's ``atelier.*`` bookkeeping,
    which the page shows in its own sections)."""
    return {k: v for k, v in sorted(tags.items()) if not k.startswith(("mlflow.", "atelier."))}


class Runs:
    """Reads one run for one acting user (admins and scientists)."""

    def __init__(self, server: TrackingServer) -> None:
        self.server = server

    def get(self, principal: Principal, experiment_id: str, run_id: str) -> RunDetails:
        found = self.of_experiment(principal, experiment_id, run_id)
        experiment = self.server.api(
            "GET", "experiments/get", params={"experiment_id": experiment_id}
        )["experiment"]
        run = run_summary(found)
        history = {key: self.history(run_id, key) for key in sorted(run["metrics"])[:MAX_CHARTS]}
        return RunDetails(
            experiment=experiment,
            run=run,
            ended=when(found["info"].get("end_time")),
            history=history,
            charts={k: metric_chart(k, v) for k, v in history.items() if len(v) > 1},
            artifacts=self.artifacts(run_id),
            environment=self.environment(run_id, run["tags"]),
            data_versions=data_versions(run["tags"]),
            personal_data=pii_columns(run["tags"]),
            system_tags=run_tags_shown(run["tags"]),
        )

    def of_experiment(
        self, principal: Principal, experiment_id: str, run_id: str
    ) -> dict[str, Any]:
        """MLflow's record of run ``run_id`` of experiment ``experiment_id``; NotFound when
        the run does not exist or belongs to another experiment."""
        _check_reader(principal)
        found = self.raw(run_id)
        if str(found["info"].get("experiment_id")) != str(experiment_id):
            raise NotFound(f"experiment {experiment_id!r} has no run {run_id!r}")
        return found

    def raw(self, run_id: str) -> dict[str, Any]:
        """MLflow's record of run ``run_id``; NotFound for an unknown or malformed id."""
        if not RUN_ID.fullmatch(run_id):
            raise NotFound(f"no run {run_id!r}: a run id is 32 hexadecimal digits")
        try:
            run: dict[str, Any] = self.server.api("GET", "runs/get", params={"run_id": run_id})[
                "run"
            ]
        except AtelierError as exc:
            if exc.status_code == 404 or "not found" in str(exc).lower():
                raise NotFound(f"no run {run_id!r} in this workspace's experiments") from None
            raise
        return run

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        """Every logged value of metric ``key``, by step then time."""
        found = self.server.api(
            "GET",
            "metrics/get-history",
            params={"run_id": run_id, "metric_key": key, "max_results": MAX_POINTS},
        )
        points = [
            {
                "step": int(m.get("step", 0)),
                "value": m["value"],
                "timestamp": int(m.get("timestamp", 0)),
            }
            for m in found.get("metrics", [])
            if isinstance(m.get("value"), int | float)
        ]
        points.sort(key=lambda p: (p["step"], p["timestamp"]))
        return points

    def artifacts(self, run_id: str, path: str = "", depth: int = 3) -> list[dict[str, Any]]:
        """The run's artifact files (path, size), a few folders deep."""
        listing = self.server.api("GET", "artifacts/list", params={"run_id": run_id, "path": path})
        found: list[dict[str, Any]] = []
        for entry in listing.get("files", []):
            if len(found) >= MAX_ARTIFACTS:
                break
            if entry.get("is_dir"):
                if depth > 0:
                    found.extend(self.artifacts(run_id, entry["path"], depth - 1))
            else:
                found.append({"path": entry["path"], "size": int(entry.get("file_size") or 0)})
        return found[:MAX_ARTIFACTS]

    def environment(self, run_id: str, tags: dict[str, str]) -> dict[str, str]:
        """Python, the digest of the locked environment (the captured environment's, else the
        ``atelier.lock`` artifact's sha256) and the project the run ran in."""
        found: dict[str, str] = {}
        if python := tags.get("atelier.python"):
            found["python"] = python
        if digest := tags.get(ENVIRONMENT_TAG):
            found["environment"] = digest
        lock = artifact_text(self.server, run_id, LOCK_ARTIFACT)
        if lock is not None:
            found["lock"] = hashlib.sha256(lock.encode()).hexdigest()
        if project := tags.get("atelier.project"):
            found["project"] = project
        if profile := tags.get("atelier.profile"):
            found["profile"] = profile
        if job := tags.get("atelier.job_id"):
            found["job"] = job
        return found
