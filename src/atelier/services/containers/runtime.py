"""The serving runtime inside a model image: Atelier's predict contract, nothing else.

This module is copied into every image that ``atelier models build`` makes, next to the
model's files, and runs as the image's entry point (``python -m atelier_runtime``). It depends
only on the standard library, MLflow (the model's loader) and what the model itself needs; the
pieces of Atelier it takes along are copied as they are: the input schema
(``atelier/services/serving/schema.py`` and ``atelier/errors.py``), so that a record the Atelier
server refuses with a 422 is refused here with the same message, and the model worker's
loading and prediction helpers (``atelier/services/serving/model_worker.py``, standard library
only at import), so that the image shapes answers exactly as Atelier's workers and in-process
models do.

* ``POST /predict``: the body of ``POST /api/v1/models/NAME/predict`` (one record, a list,
  ``{"records": [...]}``, ``dataframe_records``, ``dataframe_split``), the same answer:
  ``{"model", "version", "id", "prediction", "probability"[, "probabilities"]}`` for one
  record, ``{"model", "version", "predictions": [...]}`` for a batch; 422 ``{"detail": ...}``
  naming the record and field for input that does not match the signature.
* ``GET /health``: ``{"status": "ok", "model", "version"}`` once the model is loaded.

It listens on ``0.0.0.0:8080`` (``ATELIER_RUNTIME_PORT``); the model is ``/app/model``
(``ATELIER_MODEL_DIR``), described by ``/app/model-info.json``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from atelier.errors import InvalidInput
from atelier.services.serving.model_worker import classes_of, predict_rows, raw_model
from atelier.services.serving.schema import InputSchema

#: Largest batch one request may send (as the Atelier server).
MAX_RECORDS = 10_000
#: Largest request body, in bytes.
MAX_BODY = 32 * 1024 * 1024
#: Objects and lists nested deeper than this are refused.
MAX_DEPTH = 64
INFO_FILE = "model-info.json"


class RuntimeModel:
    """The model of the image, loaded once: predictions shaped as Atelier's serving shapes them
    (for a scikit-learn classifier: the most probable class and its probabilities)."""

    def __init__(self, folder: Path, info: Mapping[str, Any] | None = None) -> None:
        import mlflow.pyfunc
        from mlflow.models import Model

        self.info = dict(info or {})
        self.name = str(self.info.get("name") or "model")
        self.version = int(self.info.get("version") or 0)
        self.pyfunc = mlflow.pyfunc.load_model(str(folder))
        meta = Model.load(str(folder))
        self.schema = InputSchema.from_signature(meta.get_input_schema())  # type: ignore[no-untyped-call]
        self.raw: Any = raw_model(self.pyfunc, meta.flavors)
        self.classes = classes_of(self.raw) if self.raw is not None else None

    def predict(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """One answer per record (without ids); InvalidInput for records the signature
        refuses."""
        if len(records) > MAX_RECORDS:
            raise InvalidInput(
                f"{len(records)} records in one request; send at most {MAX_RECORDS} at a time"
            )
        if self.schema is None:
            raise InvalidInput(
                f"model {self.name} version {self.version} has no column signature: "
                "log it with a signature (infer_signature) to serve it"
            )
        frame = self.schema.frame(self.schema.validate(records))
        answers = []
        for prediction, probability, probabilities in predict_rows(
            self.pyfunc, self.raw, self.classes, frame
        ):
            found = {"prediction": prediction, "probability": probability}
            if probabilities is not None:
                found["probabilities"] = probabilities
            answers.append(found)
        return answers

    def respond(self, body: Any) -> dict[str, Any]:
        """The JSON answer to a predict request's decoded body."""
        records, batch = records_from_body(body)
        predictions = [{"id": uuid.uuid4().hex, **a} for a in self.predict(records)]
        if batch:
            return {"model": self.name, "version": self.version, "predictions": predictions}
        return {"model": self.name, "version": self.version, **predictions[0]}


def records_from_body(body: Any) -> tuple[Sequence[Any], bool]:
    """The records of a predict request and whether it was a batch (the formats the Atelier
    server accepts, with its messages)."""
    if isinstance(body, list):
        return body, True
    if not isinstance(body, Mapping):
        raise InvalidInput("the request body must be a JSON object or a list of objects")
    for key in ("records", "dataframe_records", "inputs"):
        if key in body:
            records = body[key]
            if not isinstance(records, list):
                raise InvalidInput(f"{key!r} must be a list of objects")
            return records, True
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, Mapping) or not isinstance(split.get("columns"), list):
            raise InvalidInput("'dataframe_split' needs 'columns' and 'data'")
        columns = split["columns"]
        data = split.get("data")
        if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise InvalidInput("'dataframe_split.data' must be a list of rows (lists)")
        for index, row in enumerate(data):
            if len(row) != len(columns):
                raise InvalidInput(
                    f"dataframe_split row {index} has {len(row)} values for {len(columns)} columns"
                )
        return [dict(zip(columns, row, strict=True)) for row in data], True
    return [body], False


def parse_body(raw: bytes) -> Any:
    """Strict JSON: no NaN or Infinity, no duplicate keys, bounded nesting."""
    if not raw.strip():
        raise InvalidInput("the request body is empty: send JSON records to predict")

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON value (send null, or a number)")

    def number(text: str) -> float:
        value = float(text)
        if math.isinf(value):
            raise ValueError(f"{text} is too large for a number")
        return value

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise ValueError(f"the key {key!r} appears twice in one object")
            found[key] = value
        return found

    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_constant=constant,
            parse_float=number,
            object_pairs_hook=unique,
        )
    except UnicodeDecodeError:
        raise InvalidInput("the request body is not UTF-8 text: send JSON") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"the request body is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg})"
        ) from None
    except RecursionError:
        raise InvalidInput(f"the request body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        raise InvalidInput(f"the request body is not accepted: {error}") from None
    if _depth(value) > MAX_DEPTH:
        raise InvalidInput(f"the request body is nested deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in _children(node))
    return deepest


def _children(node: dict[str, Any] | list[Any]) -> list[Any]:
    return list(node.values()) if isinstance(node, dict) else node


def make_handler(model: RuntimeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "atelier-runtime"
        sys_version = ""
        protocol_version = "HTTP/1.1"  # keep-alive: a client's requests share one connection
        disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/health":
                self._send(200, {"status": "ok", "model": model.name, "version": model.version})
            else:
                self._send(404, {"detail": f"no route {self.path!r}: POST /predict, GET /health"})

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/predict":
                self._send(404, {"detail": f"no route {self.path!r}: POST /predict, GET /health"})
                return
            try:
                length = int(self.headers.get("Content-Length") or "0")
            except ValueError:
                self.close_connection = True  # the body's end is unknown
                self._send(400, {"detail": "Content-Length is not a number"})
                return
            if length > MAX_BODY or length < 0:
                self.close_connection = True  # the body is not read
                self._send(413, {"detail": f"the request body is larger than {MAX_BODY} bytes"})
                return
            try:
                self._send(200, model.respond(parse_body(self.rfile.read(length))))
            except InvalidInput as error:
                self._send(422, {"detail": str(error)})
            except Exception as error:  # the model failed: say so, keep serving
                self._send(500, {"detail": f"the model failed: {type(error).__name__}: {error}"})

        def _send(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body, default=str, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def serve(folder: Path, info: Mapping[str, Any], host: str, port: int) -> ThreadingHTTPServer:
    """A server for the model in ``folder`` bound to ``host:port`` (not yet serving)."""
    server = ThreadingHTTPServer((host, port), make_handler(RuntimeModel(folder, info)))
    server.daemon_threads = True
    return server


def main() -> None:
    folder = Path(os.environ.get("ATELIER_MODEL_DIR", "/app/model"))
    info_path = folder.parent / INFO_FILE
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    port = int(os.environ.get("ATELIER_RUNTIME_PORT", "8080"))
    server = serve(folder, info, "0.0.0.0", port)
    sys.stderr.write(f"serving {info.get('name')} version {info.get('version')} on :{port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
