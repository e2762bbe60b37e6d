"""Experiments as the portal shows them: runs, leaderboards, and runs compared side by side.

::

    experiments = Experiments(workbench.tracking_server)
    experiments.all(principal)                                # newest first
    experiment, runs = experiments.runs(principal, "3")      # NotFound if it does not exist
    boards = leaderboards(runs)                               # one per parent run
    comparison = experiments.compare(principal, ["a1…", "b2…"])   # metrics, params, plots, packages

Read from MLflow's server over its private socket (MLflow's REST API), so what is shown is
exactly what MLflow holds. A run becomes a plain summary (:func:`run_summary`); its environment
comes from the ``atelier.lock`` / ``atelier.packages.txt`` artifacts run capture logs, and its
data from the ``atelier.data_versions`` tag. Admins and scientists read experiments; viewers
only use the apps shared with them.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError, InvalidInput, NotFound, PermissionDenied
from atelier.services.tracking.locations import check_relative

if TYPE_CHECKING:
    from atelier.services.auth import Principal
    from atelier.services.tracking.server import TrackingServer

#: The roles that read experiments and runs.
READERS = ("admin", "scientist")
PARENT_TAG = "mlflow.parentRunId"
LEADERBOARD_TAG = "atelier.leaderboard"
DATA_VERSIONS_TAG = "atelier.data_versions"
LOCK_ARTIFACT = "atelier.lock"
PACKAGES_ARTIFACT = "atelier.packages.txt"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")
MAX_COMPARED = 8
MAX_RUNS = 200


# -- runs as summaries -------------------------------------------------------------------


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in run.get("data", {}).get("tags", [])}


def metrics_of(run: dict[str, Any]) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run.get("data", {}).get("metrics", [])}


def params_of(run: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p.get("value", "") for p in run.get("data", {}).get("params", [])}


def when(millis: Any) -> str:
    if not millis:
        return ""
    return datetime.fromtimestamp(int(millis) / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    info = run["info"]
    tags = tags_of(run)
    return {
        "id": info["run_id"],
        "name": info.get("run_name") or info["run_id"][:8],
        "user": tags.get("mlflow.user") or info.get("user_id", ""),
        "status": info.get("status", ""),
        "started": when(info.get("start_time")),
        "parent": tags.get(PARENT_TAG),
        "metrics": metrics_of(run),
        "params": params_of(run),
        "tags": tags,
        "experiment_id": info.get("experiment_id"),
    }


def data_versions(tags: dict[str, str]) -> list[dict[str, Any]]:
    try:
        versions = json.loads(tags.get(DATA_VERSIONS_TAG, "[]"))
    except ValueError:
        return []
    return [v for v in versions if isinstance(v, dict)] if isinstance(versions, list) else []


# -- artifacts ---------------------------------------------------------------------------


def artifact_text(server: TrackingServer, run_id: str, path: str) -> str | None:
    """A run artifact's text, or None when the run has no such file."""
    check_relative("artifact", path)
    response = server.request("GET", "/get-artifact", params={"run_uuid": run_id, "path": path})
    if response.status_code != 200:
        return None
    text: str = response.text
    return text


def artifact_files(
    server: TrackingServer, run_id: str, path: str = "", depth: int = 2
) -> list[str]:
    """Paths of a run's artifact files, a few folders deep."""
    listing = server.api("GET", "artifacts/list", params={"run_id": run_id, "path": path})
    found: list[str] = []
    for entry in listing.get("files", []):
        if entry.get("is_dir"):
            if depth > 0:
                found.extend(artifact_files(server, run_id, entry["path"], depth - 1))
        else:
            found.append(entry["path"])
    return found


def packages_of(server: TrackingServer, run_id: str) -> dict[str, str] | None:
    """``{package: version}`` the run ran with: its ``atelier.lock`` (uv.lock), else the
    ``atelier.packages.txt`` list of the interpreter; None when it recorded neither."""
    lock = artifact_text(server, run_id, LOCK_ARTIFACT)
    if lock is not None:
        try:
            data = tomllib.loads(lock)
        except tomllib.TOMLDecodeError:
            data = {}
        packages = {
            str(p["name"]): str(p.get("version", p.get("source", {}).get("editable", "")))
            for p in data.get("package", [])
            if isinstance(p, dict) and "name" in p
        }
        if packages:
            return packages
    listing = artifact_text(server, run_id, PACKAGES_ARTIFACT)
    if listing is None:
        return None
    packages = {}
    for line in listing.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            packages[name] = version
    return packages


def environment_diff(environments: dict[str, dict[str, str] | None]) -> list[dict[str, Any]]:
    """Packages whose version differs between the runs that recorded their environment."""
    known = {run: packages for run, packages in environments.items() if packages is not None}
    if len(known) < 2:
        return []
    names = sorted({name for packages in known.values() for name in packages})
    rows = []
    for name in names:
        versions = {run: packages.get(name) for run, packages in known.items()}
        if len(set(versions.values())) > 1:
            rows.append({"package": name, "versions": versions})
    return rows


# -- leaderboards ------------------------------------------------------------------------


@dataclass
class Leaderboard:
    parent: dict[str, Any]
    metric: str
    higher_is_better: bool
    rows: list[dict[str, Any]]
    columns: list[str] = field(default_factory=list)

    @property
    def chart(self) -> dict[str, Any]:
        """Vega-Lite: the ranking metric's mean per candidate, with ± std error bars."""
        values = [
            {
                "candidate": row["candidate"],
                "mean": row.get(f"{self.metric}_mean"),
                "low": _minus(row.get(f"{self.metric}_mean"), row.get(f"{self.metric}_std")),
                "high": _plus(row.get(f"{self.metric}_mean"), row.get(f"{self.metric}_std")),
            }
            for row in self.rows
            if row.get(f"{self.metric}_mean") is not None
        ]
        order = [v["candidate"] for v in values]
        axis = {"field": "candidate", "type": "nominal", "sort": order, "title": None}
        return {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "data": {"values": values},
            "width": "container",
            "height": {"step": 26},
            "layer": [
                {
                    "mark": {"type": "bar"},
                    "encoding": {
                        "y": axis,
                        "x": {"field": "mean", "type": "quantitative", "title": self.metric},
                    },
                },
                {
                    "mark": {"type": "errorbar"},
                    "encoding": {
                        "y": axis,
                        "x": {"field": "low", "type": "quantitative"},
                        "x2": {"field": "high"},
                    },
                },
            ],
        }


def _minus(a: Any, b: Any) -> float | None:
    return a - (b or 0) if isinstance(a, int | float) else None


def _plus(a: Any, b: Any) -> float | None:
    return a + (b or 0) if isinstance(a, int | float) else None


def leaderboards(runs: list[dict[str, Any]]) -> list[Leaderboard]:
    """One per parent run: from its ``atelier.leaderboard`` tag (written by
    ``atelier.compare``), else from its child runs' ``<metric>_mean``/``_std`` metrics."""
    children: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["parent"]:
            children.setdefault(run["parent"], []).append(run)
    boards = []
    for run in runs:
        tag = run["tags"].get(LEADERBOARD_TAG)
        if tag:
            try:
                data = json.loads(tag)
                boards.append(
                    _board(run, data["metric"], bool(data.get("higher_is_better")), data["rows"])
                )
                continue
            except (ValueError, KeyError, TypeError):
                pass
        if run["id"] in children:
            boards.extend(_from_children(run, children[run["id"]]))
    return boards


def _board(
    parent: dict[str, Any], metric: str, higher: bool, rows: list[dict[str, Any]]
) -> Leaderboard:
    columns: list[str] = []
    for row in rows:
        for key in row:
            base = key.removesuffix("_mean")
            if key.endswith("_mean") and base not in columns:
                columns.append(base)
    if metric in columns:
        columns.remove(metric)
        columns.insert(0, metric)
    return Leaderboard(parent, metric, higher, rows, columns)


def _from_children(parent: dict[str, Any], runs: list[dict[str, Any]]) -> list[Leaderboard]:
    rows = []
    for child in runs:
        scores = {k: v for k, v in child["metrics"].items() if k.endswith(("_mean", "_std"))}
        if not scores:
            continue
        rows.append(
            {
                "candidate": child["tags"].get("atelier.candidate", child["name"]),
                "run_id": child["id"],
                "fit_time": child["metrics"].get("fit_time"),
                **scores,
            }
        )
    if not rows:
        return []
    metric = next(k for k in rows[0] if k.endswith("_mean")).removesuffix("_mean")
    lower = metric in ("rmse", "mae", "mse", "mape", "log_loss")
    rows.sort(key=lambda r: r.get(f"{metric}_mean") or 0.0, reverse=not lower)
    return [_board(parent, metric, not lower, rows)]


# -- the service -------------------------------------------------------------------------


@dataclass
class Comparison:
    """Runs side by side: the union of their metrics and parameters (``differing``: the
    parameters whose value is not the same in every run), their image artifacts, the data
    they read and the packages whose versions differ."""

    runs: list[dict[str, Any]]
    metric_keys: list[str]
    param_keys: list[str]
    differing: set[str]
    plots: dict[str, list[str]]
    plot_names: list[str]
    data_versions: dict[str, list[dict[str, Any]]]
    environment: list[dict[str, Any]]
    environments_known: list[str]


def compared_ids(values: list[str]) -> list[str]:
    """Run ids from ``runs`` parameters (repeated, or comma-separated), once each, in order."""
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InvalidInput("pick runs to compare: tick them in an experiment's runs table")
    if len(ids) > MAX_COMPARED:
        raise InvalidInput(f"compare at most {MAX_COMPARED} runs at once (got {len(ids)})")
    return ids


class Experiments:
    """Reads experiments and runs for one acting user (admins and scientists)."""

    def __init__(self, server: TrackingServer) -> None:
        self.server = server

    def all(self, principal: Principal) -> list[dict[str, Any]]:
        """Every experiment, the most recently updated first."""
        _check_reader(principal)
        found = self.server.api("POST", "experiments/search", json={"max_results": 1000})
        rows = [
            {
                "id": e["experiment_id"],
                "name": e["name"],
                "updated": when(e.get("last_update_time")),
                "created": when(e.get("creation_time")),
            }
            for e in found.get("experiments", [])
        ]
        rows.sort(key=lambda e: e["updated"], reverse=True)
        return rows

    def runs(
        self, principal: Principal, experiment_id: str, limit: int = MAX_RUNS
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The experiment and its newest ``limit`` runs, as summaries."""
        _check_reader(principal)
        try:
            found = self.server.api(
                "GET", "experiments/get", params={"experiment_id": experiment_id}
            )
        except AtelierError as exc:
            if exc.status_code == 404 or "does not exist" in str(exc).lower():
                raise NotFound(f"experiment {experiment_id!r} does not exist") from None
            raise
        searched = self.server.api(
            "POST",
            "runs/search",
            json={
                "experiment_ids": [experiment_id],
                "max_results": limit,
                "order_by": ["attributes.start_time DESC"],
            },
        )
        experiment: dict[str, Any] = found["experiment"]
        return experiment, [run_summary(r) for r in searched.get("runs", [])]

    def compare(self, principal: Principal, run_ids: list[str]) -> Comparison:
        """``run_ids`` (see :func:`compared_ids`) side by side."""
        _check_reader(principal)
        ids = compared_ids(run_ids)
        server = self.server
        runs = [
            run_summary(server.api("GET", "runs/get", params={"run_id": i})["run"]) for i in ids
        ]
        param_keys = sorted({k for r in runs for k in r["params"]})
        plots = {
            r["id"]: [
                p for p in artifact_files(server, r["id"]) if p.lower().endswith(IMAGE_SUFFIXES)
            ]
            for r in runs
        }
        environments = {r["id"]: packages_of(server, r["id"]) for r in runs}
        return Comparison(
            runs=runs,
            metric_keys=sorted({k for r in runs for k in r["metrics"]}),
            param_keys=param_keys,
            differing={k for k in param_keys if len({r["params"].get(k) for r in runs}) > 1},
            plots=plots,
            plot_names=sorted({p for paths in plots.values() for p in paths}),
            data_versions={r["id"]: data_versions(r["tags"]) for r in runs},
            environment=environment_diff(environments),
            environments_known=[r["id"] for r in runs if environments[r["id"]] is not None],
        )


def _check_reader(principal: Principal) -> None:
    if principal.role not in READERS:
        raise PermissionDenied(
            f"{principal.name} is a {principal.role}: only admins and scientists read experiments"
        )
