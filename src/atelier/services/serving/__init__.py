"""Serving: predictions from registered MLflow models inside the Atelier server.

::

    server = ModelServer(ModelRegistry(tracking_uri, {"mlflow-artifacts:/": artifacts}),
                         warehouse, journal_dir)
    batch = server.predict(ModelRef.parse("churn@champion"), [{"age": 41, ...}], caller="ada")
    batch.predictions[0].id          # quoted by feedback; the row lands in predictions.churn

* :mod:`.schema` — input validation against the MLflow signature, errors naming the field;
* :mod:`.models` — registry look-ups, one load per version, probabilities, training categories;
* :mod:`.journal` and :mod:`.tables` — the prediction log: an append-only journal on the
  request path, shipped in batches by a background thread to ``predictions.<model>``.
"""

from atelier.services.serving.models import (
    LoadedModel,
    ModelRef,
    ModelRegistry,
    VersionInfo,
    records_from_body,
)
from atelier.services.serving.schema import Column, InputSchema
from atelier.services.serving.service import ModelServer, Prediction, PredictionBatch

__all__ = [
    "Column",
    "InputSchema",
    "LoadedModel",
    "ModelRef",
    "ModelRegistry",
    "ModelServer",
    "Prediction",
    "PredictionBatch",
    "VersionInfo",
    "records_from_body",
]
