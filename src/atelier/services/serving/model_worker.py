"""The model worker: one registered model version, loaded in its own environment, answering
predict requests on a local (Unix) socket.

Run by :mod:`.workers` with the interpreter of the environment built from the model's lock::

    python -I model_worker.py SOCKET MODEL_DIR PARENT_PID

This file is also imported by Atelier (:mod:`.models` shares its helpers), so it imports only
the standard library at the top: in a worker, only the model's own packages are there (pandas,
numpy and MLflow come from the lock, Atelier does not). The worker exits when the process that
started it goes away.

Protocol: each message is a 4-byte big-endian length followed by that many bytes of UTF-8
JSON. Requests are ``{"op": "describe"}`` and ``{"op": "predict", "columns": [...],
"dtypes": [...], "rows": [[...], ...]}``; answers are ``{"ok": true, ...}`` or ``{"ok":
false, "error": "..."}``. One connection may carry any number of requests, one at a time.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

#: More known values than this and a text column is a text box, not a drop-down.
MAX_CATEGORIES = 200
#: Largest message either side accepts (a batch of 10,000 wide records fits).
MAX_MESSAGE = 256 * 1024 * 1024
HEADER = struct.Struct(">I")
#: Flavours whose raw model is asked for ``predict_proba`` and ``classes_``.
RAW_FLAVORS = ("sklearn", "lightgbm", "xgboost", "catboost")


# -- shared with Atelier's in-process models ------------------------------------------------------


def fitted_categories(estimator: Any) -> dict[str, list[Any]]:
    """``{column: categories}`` of the one-hot or ordinal encoders fitted in a scikit-learn
    pipeline or column transformer: exactly the values seen in training."""
    found: dict[str, list[Any]] = {}
    pending = [(estimator, None)]
    while pending:
        node, columns = pending.pop()
        if node is None or isinstance(node, str):
            continue
        if hasattr(node, "steps"):  # Pipeline: the first step sees the columns
            for index, (_, step) in enumerate(node.steps):
                pending.append((step, columns if index == 0 else None))
            continue
        if hasattr(node, "transformers_"):  # ColumnTransformer
            for _, transformer, selected in node.transformers_:
                names = selected if _is_names(selected) else None
                pending.append((transformer, names))
            continue
        if hasattr(node, "categories_"):
            names = columns or list(getattr(node, "feature_names_in_", []))
            for name, values in zip(names, node.categories_, strict=False):
                kept = [plain(v) for v in values if not _is_missing(v)]
                if len(kept) <= MAX_CATEGORIES:
                    found[str(name)] = kept
    return found


def _is_names(selected: Any) -> bool:
    return isinstance(selected, list | tuple) and all(isinstance(s, str) for s in selected)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def to_list(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        listed: list[Any] = values.tolist()
        return listed
    if hasattr(values, "to_numpy"):
        converted: list[Any] = values.to_numpy().tolist()
        return converted
    return list(values)


def plain(value: Any) -> Any:
    """A numpy/pandas scalar as the JSON-ready Python value."""
    if hasattr(value, "isoformat"):
        if isinstance(value, datetime) and value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat() if isinstance(value, datetime | date) else str(value)
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def raw_model(pyfunc: Any, flavors: Any) -> Any:
    """The estimator behind a pyfunc model when its flavour has one that answers
    ``predict_proba`` with ``classes_`` (else None: predictions go through the pyfunc)."""
    if not any(f in flavors for f in RAW_FLAVORS):
        return None
    try:
        raw = pyfunc.get_raw_model()
    except Exception:  # a flavour without a raw model: the pyfunc answers
        return None
    if "sklearn" in flavors or (hasattr(raw, "predict_proba") and hasattr(raw, "classes_")):
        return raw
    return None


def classes_of(raw: Any) -> list[Any] | None:
    return [plain(c) for c in raw.classes_] if hasattr(raw, "classes_") else None


def has_probabilities(raw: Any, classes: list[Any] | None) -> bool:
    return raw is not None and hasattr(raw, "predict_proba") and bool(classes)


def predict_rows(
    pyfunc: Any, raw: Any, classes: list[Any] | None, frame: Any
) -> list[tuple[Any, float | None, dict[str, float] | None]]:
    """``(prediction, probability, probabilities)`` per row of ``frame``."""
    if raw is None:
        return [(plain(v), None, None) for v in to_list(pyfunc.predict(frame))]
    if not has_probabilities(raw, classes):
        return [(plain(v), None, None) for v in to_list(raw.predict(frame))]
    assert classes is not None
    # One pass through the model: the label is the most probable class (what predict()
    # answers for scikit-learn's probabilistic classifiers), not a second run of it.
    outputs: list[tuple[Any, float | None, dict[str, float] | None]] = []
    for row in raw.predict_proba(frame):
        scores = {str(c): float(p) for c, p in zip(classes, row, strict=True)}
        best = max(range(len(classes)), key=lambda i: row[i])
        outputs.append((classes[best], float(row[best]), scores))
    return outputs


def predict_compiled(
    pyfunc: Any, plan: Any, classes: list[Any] | None, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, float | None, dict[str, float] | None]] | None:
    """:func:`predict_rows` through a compiled plan (:mod:`.compiled`), for rows validated by
    the model's signature; None when the rows need scikit-learn itself (a missing value, an
    unseen category its encoder refuses). Validation refused NaN and infinities in the typed
    columns that feed the matrix: the model need not look for them again."""
    import sklearn

    if any(value is None for row in rows for value in row.values()):
        return None
    matrix = plan.matrix(rows)
    if matrix is None:
        return None
    if plan.native:  # no scikit-learn call left to configure
        return predict_rows(pyfunc, plan, classes, matrix)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return predict_rows(pyfunc, plan, classes, matrix)


def example_records(example: Any) -> list[dict[str, Any]]:
    """A model's input example as JSON-ready records (empty when it has none)."""
    if example is None:
        return []
    if hasattr(example, "to_dict"):
        rows = example.to_dict(orient="records")
    elif isinstance(example, list):
        rows = example
    elif isinstance(example, Mapping):
        rows = [dict(example)]
    else:
        return []
    return [{str(k): plain(v) for k, v in row.items()} for row in rows if isinstance(row, Mapping)]


def atelier_compiled() -> Any:
    """Atelier's :mod:`.compiled` (and the :mod:`.schema` it reads), for a worker: loaded from
    the files beside this one without running their packages' ``__init__``, whose imports are
    Atelier's, not this environment's. These modules import only the standard library at
    their top, and the model's own numpy, SciPy and scikit-learn when they compile. They are
    then taken out of ``sys.modules`` again, so that the model's own code importing
    ``atelier`` (its SDK, say) finds the environment's package. In Atelier's own process,
    its modules as they are."""
    import importlib
    import types

    name = "atelier.services.serving.compiled"
    if "atelier" in sys.modules:
        return importlib.import_module(name)
    before = set(sys.modules)
    serving = os.path.dirname(os.path.abspath(__file__))
    services = os.path.dirname(serving)
    for package_name, folder in (
        ("atelier", os.path.dirname(services)),
        ("atelier.services", services),
        ("atelier.services.serving", serving),
    ):
        package = types.ModuleType(package_name)
        package.__path__ = [folder]
        sys.modules[package_name] = package
    try:
        return importlib.import_module(name)
    finally:
        for loaded in set(sys.modules) - before:
            if loaded == "atelier" or loaded.startswith("atelier."):
                del sys.modules[loaded]


# -- the frame on the wire -------------------------------------------------------------------------


def encode_frame(frame: Any) -> dict[str, Any]:
    """A typed DataFrame as ``{"columns", "dtypes", "rows"}`` (dates as ISO text)."""
    columns = [str(c) for c in frame.columns]
    dtypes = [str(frame[c].dtype) for c in frame.columns]
    values = []
    for name, dtype in zip(frame.columns, dtypes, strict=True):
        column = frame[name]
        if dtype.startswith("datetime64"):
            values.append([None if v is None or v != v else v.isoformat() for v in column])
        else:
            values.append([plain(v) for v in column.tolist()])
    return {
        "columns": columns,
        "dtypes": dtypes,
        "rows": [list(r) for r in zip(*values, strict=True)],
    }


def decode_frame(message: Mapping[str, Any]) -> Any:
    """The DataFrame :func:`encode_frame` described, with the same column types."""
    import numpy as np
    import pandas as pd

    columns, dtypes, rows = message["columns"], message["dtypes"], message["rows"]
    data: dict[str, Any] = {}
    for index, (name, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        values = [row[index] for row in rows]
        if dtype.startswith("datetime64"):
            data[name] = pd.to_datetime(values).astype(dtype)
        elif dtype == "object":
            data[name] = values
        else:
            data[name] = np.array(values, dtype=dtype)
    return pd.DataFrame(data, columns=columns)


# -- messages --------------------------------------------------------------------------------------


def send(connection: socket.socket, message: Mapping[str, Any]) -> None:
    body = json.dumps(message, separators=(",", ":"), default=str).encode()
    connection.sendall(HEADER.pack(len(body)) + body)


def receive(connection: socket.socket) -> dict[str, Any] | None:
    """The next message, or None when the other side closed the connection."""
    header = _read(connection, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ValueError(f"a message of {size} bytes is larger than {MAX_MESSAGE}")
    body = _read(connection, size)
    if body is None:
        raise ConnectionError("the connection closed in the middle of a message")
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("a message must be a JSON object")
    return value


def _read(connection: socket.socket, size: int) -> bytes | None:
    chunks = []
    left = size
    while left:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            if left == size:
                return None
            raise ConnectionError("the connection closed in the middle of a message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- the worker ------------------------------------------------------------------------------------


class Worker:
    """The model, and what serves it: a scikit-learn pipeline gets the compiled plan that
    Atelier's own process would use (:mod:`.compiled`), verified here, against this
    environment's scikit-learn, before it is used."""

    def __init__(self, model_dir: str) -> None:
        import mlflow.pyfunc
        from mlflow.models import Model

        self.pyfunc = mlflow.pyfunc.load_model(model_dir)
        meta = Model.load(model_dir)
        self.flavors = sorted(meta.flavors)
        self.raw = raw_model(self.pyfunc, self.flavors)
        self.classes = classes_of(self.raw) if self.raw is not None else None
        self.compiled: Any = None
        self.schema: Any = None
        self.inference, self.inference_note = "pyfunc", ""
        if self.raw is not None and "sklearn" in self.flavors:
            self.inference = "scikit-learn"
            self._compile(meta, model_dir)

    def _compile(self, meta: Any, model_dir: str) -> None:
        try:
            compiled = atelier_compiled()
            self.schema = compiled.InputSchema.from_signature(meta.get_input_schema())
            example = example_records(meta.load_input_example(model_dir))
        except Exception as error:  # served through scikit-learn, as before
            self.inference_note = f"compiling failed: {type(error).__name__}: {error}"
            return
        self.compiled, self.inference_note = compiled.plan_for(self.raw, self.schema, example)
        if self.compiled is not None:
            self.inference = "compiled"

    def _predict_validated(self, request: Mapping[str, Any]) -> list[Any] | None:
        """Outputs through the compiled plan for rows the server validated (sent with
        ``"validated": true``), typed again by the signature here (dates come as text); None
        when they go through scikit-learn."""
        if self.compiled is None or not request.get("validated"):
            return None
        columns = request["columns"]
        try:
            rows = self.schema.validate(
                [dict(zip(columns, r, strict=True)) for r in request["rows"]]
            )
        except Exception:  # scikit-learn gets them, and says what it makes of them
            return None
        return predict_compiled(self.pyfunc, self.compiled, self.classes, rows)

    def answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "predict":
            outputs = self._predict_validated(request)
            if outputs is None:
                outputs = predict_rows(self.pyfunc, self.raw, self.classes, decode_frame(request))
            return {"ok": True, "outputs": [list(o) for o in outputs]}
        if op == "describe":
            return {
                "ok": True,
                "flavors": self.flavors,
                "classes": self.classes,
                "has_probabilities": has_probabilities(self.raw, self.classes),
                "categories": fitted_categories(self.raw) if self.raw is not None else {},
                "python": sys.version.split()[0],
                "pid": os.getpid(),
                "inference": self.inference,
                "inference_note": self.inference_note,
            }
        return {"ok": False, "error": f"unknown request {op!r}"}

    def serve(self, connection: socket.socket) -> None:
        with connection:
            while True:
                try:
                    request = receive(connection)
                except (OSError, ValueError) as error:
                    send(connection, {"ok": False, "error": f"bad request: {error}"})
                    return
                if request is None:
                    return
                try:
                    answer = self.answer(request)
                except Exception as error:  # the model's own failure, told to the server
                    answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
                send(connection, answer)


def watch_parent(parent: int, folder: str) -> None:
    """Exit as soon as the process that started this worker is gone, removing the private
    folder of its socket (which that process would have removed)."""
    while True:
        if os.getppid() != parent:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            os._exit(0)
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: model_worker.py SOCKET MODEL_DIR PARENT_PID", file=sys.stderr)
        return 2
    path, model_dir, parent = argv[1], argv[2], int(argv[3])
    folder = os.path.dirname(os.path.abspath(path))
    threading.Thread(target=watch_parent, args=(parent, folder), daemon=True).start()
    worker = Worker(model_dir)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Bound under a temporary name and renamed: the server sees the socket only once it
    # answers (the model is loaded by then).
    temporary = path + ".starting"
    listener.bind(temporary)
    os.chmod(temporary, 0o600)
    listener.listen(64)
    os.replace(temporary, path)
    print(f"model worker {os.getpid()} ready on {path}", file=sys.stderr, flush=True)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=worker.serve, args=(connection,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
