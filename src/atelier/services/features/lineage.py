"""What a training set says it was made of, in plain Python (read on a laptop too): the key of
its Arrow schema metadata and the tags a training run records."""

from __future__ import annotations

import json
from typing import Any

from atelier.services.tracking.personal import PII_TAG, pii_columns

__all__ = ["LINEAGE_KEY", "PII_TAG", "pii_columns", "run_tags"]

#: The schema metadata key of a training set's lineage (JSON).
LINEAGE_KEY = b"atelier.training_set"


def run_tags(lineage: dict[str, Any], digest: str | None = None) -> dict[str, str]:
    """Flat tags for an experiment run that trains on the training set of ``lineage``
    (:meth:`TrainingSet.lineage`): the feature views and their versions, and the training
    set as ``name@version`` when it was saved, else as its content ``digest``; and
    :data:`PII_TAG`, the columns that hold personal data (when the lineage says: one written
    by an earlier version may not)."""
    views = lineage["feature_views"]
    tags = {"atelier.feature_views": ",".join(f"{v}@{n}" for v, n in views.items())}
    if lineage.get("training_set"):
        tags["atelier.training_set"] = (
            f"{lineage['training_set']}@{lineage['training_set_version']}"
        )
    elif digest is not None:
        tags["atelier.training_set"] = f"sha256:{digest}"
    if isinstance(lineage.get("pii"), dict):
        tags[PII_TAG] = json.dumps(lineage["pii"], sort_keys=True)
    return tags
