"""The feature store: feature views over warehouse tables, point-in-time training sets and
online lookups, on DuckDB.

::

    customer = Entity("customer", keys=["customer_id"])
    spend = FeatureView(
        "spend", entity=customer, source="bank.transactions", timestamp="ts", ttl="30d",
        features=["amount", Derived("outgoing", sql="amount < 0")],
        aggregations=[Aggregation("amount", ["sum", "avg", "count"], ["7d", "30d", "90d"])],
    )
    store.apply(store.load("features.py"), project="churn", dry_run=True)   # the diff
    store.training_set(labels, ["spend:amount_avg_30d", "spend:*"], save_as="ml.train")
    store.materialize(); store.online({"customer_id": [1, 2]}, ["spend:amount_sum_7d"])

* :mod:`.definitions` — entities, views, derived features, aggregations, services;
* :mod:`.loader` / :mod:`.registry` — ``features.py``/YAML files, diffs, versions, dependants;
* :mod:`.engine` — the point-in-time joins (ASOF, range, window plans), chosen by shape;
* :mod:`.serving` — materialization and online lookups, kept in the online stores of
  :mod:`atelier.backends.online` (SQLite, Redis).
"""

from typing import TYPE_CHECKING, Any

# The definitions are plain Python (a project's features.py imports them, on a laptop too);
# the store and its engine (DuckDB, the metadata database) load on first use.
from atelier.services.features.definitions import (
    Aggregation,
    Definitions,
    Derived,
    Entity,
    FeatureService,
    FeatureView,
    Window,
)

if TYPE_CHECKING:
    from atelier.backends.online import STORES, OnlineStore
    from atelier.services.features.engine import Plan
    from atelier.services.features.info import ViewInfo
    from atelier.services.features.registry import ApplyPlan, Change
    from atelier.services.features.store import FeatureStore
    from atelier.services.features.training import TrainingSet

_LAZY = {
    "STORES": "atelier.backends.online",
    "OnlineStore": "atelier.backends.online",
    "Plan": "atelier.services.features.engine",
    "ViewInfo": "atelier.services.features.info",
    "ApplyPlan": "atelier.services.features.registry",
    "Change": "atelier.services.features.registry",
    "FeatureStore": "atelier.services.features.store",
    "TrainingSet": "atelier.services.features.training",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "STORES",
    "Aggregation",
    "ApplyPlan",
    "Change",
    "Definitions",
    "Derived",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "OnlineStore",
    "Plan",
    "TrainingSet",
    "ViewInfo",
    "Window",
]
