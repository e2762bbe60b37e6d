"""Predictions from registered models: ``POST /api/v1/models/{name}/predict``.

The body is one JSON record (answered with one prediction) or a batch: a list of records,
``{"records": [...]}``, or MLflow's ``dataframe_records`` / ``dataframe_split``. The model is
``NAME@ALIAS`` in the path, or ``NAME`` with ``?alias=`` or ``?version=`` (else its newest
version). Input that does not match the signature is a 422 naming the record and field.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from atelier.contract.apps import Prediction, PredictionBatch, Serving
from atelier.errors import InvalidInput
from atelier.server.api.deps import workbench
from atelier.server.api.json_body import parse_json
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import PREDICT
from atelier.services.serving import records_from_body
from atelier.services.tracking.references import parse_reference

router = APIRouter(tags=["models"])


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidInput("the request body is empty: send JSON records to predict")
    return parse_json(raw)


@router.post("/models/{name}/predict", response_model=Prediction | PredictionBatch)
async def predict(
    name: str,
    request: Request,
    alias: str | None = None,
    version: int | None = None,
    principal: Principal = allow("admin", "scientist", scopes=(PREDICT,)),
) -> Response:
    """Predict one record or a batch; each prediction has an ``id`` for feedback."""
    ref = parse_reference(name, alias=alias, version=version)
    records, batch = records_from_body(await json_body(request))
    server = workbench(request).serving
    result = await run_in_threadpool(server.predict, ref, records, caller=principal.name)
    # Plain JSON values built by the server (the shape ``response_model`` documents): written
    # directly rather than validated again field by field on the hot path.
    answer = result.as_dict() if batch else result.single_dict()
    return Response(_dumps(answer), media_type="application/json")


def _dumps(value: Any) -> bytes:
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:  # a model answered NaN or an infinity: null, as JSON has no such number
        text = json.dumps(_finite(value), separators=(",", ":"), allow_nan=False, default=str)
    return text.encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@router.get("/models/{name}/serving", response_model=Serving)
async def serving_info(
    name: str,
    request: Request,
    alias: str | None = None,
    version: int | None = None,
    _: Principal = allow("admin", "scientist", scopes=(PREDICT,)),
) -> dict[str, Any]:
    """The version that would serve: inputs (signature), input example, classes, run."""
    ref = parse_reference(name, alias=alias, version=version)
    model = await run_in_threadpool(workbench(request).serving.model, ref)
    return {"endpoint": f"/api/v1/models/{model.name}/predict", **model.describe()}
