"""The personal data a run's model was trained on: the run tag ``atelier.pii``.

A training set built while a run is active records on the run which of its columns hold
personal data (see :mod:`atelier.sdk.feature_runs`); model cards show it and apps read it to
mask the personal fields of the requests they log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

#: The run tag naming the model's input columns that hold personal data: a JSON object
#: ``{"column": "kind", ...}`` (``{}``: none).
PII_TAG = "atelier.pii"


def pii_columns(tags: Mapping[str, str]) -> dict[str, str]:
    """Column -> kind from a run's :data:`PII_TAG` (nothing when absent or not readable)."""
    try:
        found = json.loads(tags.get(PII_TAG) or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(column): str(kind) for column, kind in found.items()}
