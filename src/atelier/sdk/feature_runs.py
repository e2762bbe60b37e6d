"""Run lineage: a training set built while an MLflow run is active in this process is recorded
on that run, so that the run says what it trained on.

The run gets the tags of :func:`~atelier.services.features.lineage.run_tags`
(``atelier.training_set``: ``name@version`` when saved, else ``sha256:<digest of the rows>``;
``atelier.feature_views``: ``view@version,...``; ``atelier.pii``: a JSON object of the columns
that hold personal data and their kinds, merged over the run's training sets), the param
``atelier.features`` (the feature
references; a param cannot change, so only the run's first training set sets it) and the JSON
artifact ``atelier/training_sets/<name>.json`` with the whole lineage.

MLflow is imported only when the calling code already did: no run can be active otherwise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from atelier.services.features.lineage import LINEAGE_KEY, PII_TAG, pii_columns, run_tags

if TYPE_CHECKING:
    import pyarrow

log = logging.getLogger(__name__)

FEATURES_PARAM = "atelier.features"
#: MLflow refuses longer param values.
MAX_PARAM_LENGTH = 6000


def lineage_of(table: pyarrow.Table) -> dict[str, Any]:
    """The lineage a training set carries in its schema metadata."""
    lineage: dict[str, Any] = json.loads((table.schema.metadata or {})[LINEAGE_KEY])
    return lineage


def digest(table: pyarrow.Table) -> str:
    """SHA-256 of the rows (an Arrow IPC stream of them, in one layout: the same rows give
    the same digest however the result was chunked)."""
    import pyarrow as pa

    hashed = hashlib.sha256()

    class Sink:
        closed = False

        def write(self, data: bytes) -> int:
            hashed.update(data)
            return len(data)

        def flush(self) -> None:
            return None

    rows = table.replace_schema_metadata(None).combine_chunks()
    with pa.ipc.new_stream(pa.PythonFile(Sink(), mode="w"), rows.schema) as writer:
        writer.write_table(rows, max_chunksize=2**16)
    return hashed.hexdigest()


def log_training_set(table: pyarrow.Table) -> None:
    """Record the training set ``table`` on the active MLflow run, if there is one."""
    if "mlflow" not in sys.modules:
        return
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return
    lineage = lineage_of(table)
    rows = digest(table)
    tags = run_tags(lineage, rows)
    name = tags["atelier.training_set"].replace("@", "@v").replace(":", "-")
    artifact = f"atelier/training_sets/{name}.json"
    features = ",".join(lineage["features"])
    if len(features) > MAX_PARAM_LENGTH:
        features = f"{len(lineage['features'])} features, listed in {artifact}"
    try:
        recorded = mlflow.get_run(run.info.run_id).data
        if PII_TAG in tags:
            # Every training set of the run: a column personal in one stays so.
            merged = pii_columns(recorded.tags) | pii_columns(tags)
            tags[PII_TAG] = json.dumps(merged, sort_keys=True)
        mlflow.set_tags(tags)
        mlflow.log_dict(lineage | {"sha256": rows, "rows": table.num_rows}, artifact)
        if FEATURES_PARAM not in recorded.params:
            mlflow.log_param(FEATURES_PARAM, features)
    except mlflow.exceptions.MlflowException as error:
        # The training set is built; a tracking server that fails must not lose it.
        log.warning("could not record training set %s on run %s: %s", name, run.info.run_id, error)
