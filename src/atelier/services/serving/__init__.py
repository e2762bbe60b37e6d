"""Serving: predictions from registered MLflow models inside the Atelier server.

::

    server = ModelServer(ModelRegistry(tracking_uri, artifacts_dir=artifacts),
                         warehouse, journal_dir)
    batch = server.predict(parse_reference("churn@champion"), [{"age": 41, ...}], caller="ada")
    batch.predictions[0].id          # quoted by feedback; the row lands in predictions.churn

* :mod:`.schema` — input validation against the MLflow signature, errors naming the field;
* :mod:`.models` — one load per version, probabilities, training categories (references,
  version look-ups and model files come from the tracking service's model registry);
* :mod:`.journal` and :mod:`.tables` — the prediction log: an append-only journal on the
  request path, shipped in batches by a background thread to ``predictions.<model>``.
"""

from atelier.services.serving.models import LoadedModel, records_from_body
from atelier.services.serving.schema import Column, InputSchema
from atelier.services.serving.service import ModelServer, Prediction, PredictionBatch

__all__ = [
    "Column",
    "InputSchema",
    "LoadedModel",
    "ModelServer",
    "Prediction",
    "PredictionBatch",
    "records_from_body",
]
