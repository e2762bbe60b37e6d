"""A person's own experiments and runs, for their home page.

Read from MLflow's server (the ``mlflow.user`` tag the gateway forces on runs, the
``atelier.owner`` tag it forces on experiments), only when the server already runs: a home
page never waits for MLflow to start. Admins and scientists read experiments; viewers none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError
from atelier.services.tracking.experiments import READERS, run_summary, when

if TYPE_CHECKING:
    from atelier.services.auth import Principal
    from atelier.services.tracking.server import TrackingServer


@dataclass
class MyTracking:
    """What the home page shows; ``available`` is False while MLflow is not up yet."""

    available: bool
    experiments: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def mine(server: TrackingServer, principal: Principal, limit: int = 6) -> MyTracking:
    """``principal``'s newest experiments and runs (empty for viewers)."""
    if principal.role not in READERS:
        return MyTracking(available=True)
    if not server.ready:
        return MyTracking(available=False)
    who = _quoted(principal.name)
    try:
        found = server.api(
            "POST",
            "experiments/search",
            json={"max_results": 1000, "order_by": ["last_update_time DESC"]},
        )
        every = found.get("experiments", [])
        names = {e["experiment_id"]: e["name"] for e in every}
        owned = [
            e
            for e in every
            if any(
                t.get("key") == "atelier.owner" and t.get("value") == principal.name
                for t in e.get("tags", [])
            )
        ]
        runs: list[dict[str, Any]] = []
        ids = list(names)
        # MLflow searches at most 100 experiments per call.
        for start in range(0, len(ids), 100):
            searched = server.api(
                "POST",
                "runs/search",
                json={
                    "experiment_ids": ids[start : start + 100],
                    "filter": f"tags.`mlflow.user` = {who}",
                    "max_results": limit,
                    "order_by": ["attributes.start_time DESC"],
                },
            )
            runs.extend(searched.get("runs", []))
    except (AtelierError, OSError):
        return MyTracking(available=False)
    summaries = []
    for run in sorted(runs, key=lambda r: r["info"].get("start_time") or 0, reverse=True)[:limit]:
        summary = run_summary(run)
        summary["experiment_name"] = names.get(run["info"].get("experiment_id"), "")
        summaries.append(summary)
    experiments = [
        {"id": e["experiment_id"], "name": e["name"], "updated": when(e.get("last_update_time"))}
        for e in owned[:limit]
    ]
    return MyTracking(True, experiments, summaries)
