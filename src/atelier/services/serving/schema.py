"""A model's input schema, taken from its MLflow signature, and fast validation against it.

MLflow checks inputs itself (``pyfunc`` schema enforcement), but slowly and with messages
made for Python programmers. Here each JSON record is checked field by field and turned into
the one-row-per-record DataFrame the model expects; every problem names the record and the
field: a missing column, a wrong type or an unknown field is :class:`~atelier.errors.InvalidInput`
(HTTP 422), never a crash inside the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput

if TYPE_CHECKING:
    import pandas

#: MLflow column types → (what users are told, numpy dtype of the column).
TYPES: dict[str, tuple[str, str]] = {
    "boolean": ("a boolean (true or false)", "bool"),
    "integer": ("an integer", "int32"),
    "long": ("an integer", "int64"),
    "float": ("a number", "float32"),
    "double": ("a number", "float64"),
    "string": ("a string", "object"),
    "binary": ("a string", "object"),
    "datetime": ("a date or date-time (ISO 8601, e.g. 2026-01-31)", "datetime64[ns]"),
}
#: At most this many problems are listed in one error.
MAX_PROBLEMS = 5


@dataclass(frozen=True)
class Column:
    name: str
    #: An MLflow column type: boolean, integer, long, float, double, string, binary, datetime.
    type: str
    required: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "required": self.required}


class InputSchema:
    """The named columns a model takes. ``validate`` turns JSON records into a DataFrame."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = list(columns)
        self.by_name = {column.name: column for column in self.columns}
        #: Every column has a checked type (none is an array, object or map taken as is).
        self.typed = all(column.type in TYPES for column in self.columns)

    @classmethod
    def from_signature(cls, schema: Any) -> InputSchema | None:
        """From ``model.metadata.get_input_schema()``; None when the model has no column-based
        signature (tensor inputs, or no signature at all)."""
        if schema is None or not getattr(schema, "has_input_names", lambda: False)():
            return None
        if getattr(schema, "is_tensor_spec", lambda: False)():
            return None
        columns = []
        for spec in schema.inputs:
            kind = getattr(spec.type, "name", str(spec.type))
            if kind not in TYPES:
                # Arrays, objects and maps: accepted as they come, the model checks them.
                kind = "any"
            columns.append(Column(spec.name, kind, bool(getattr(spec, "required", True))))
        return cls(columns)

    def as_list(self) -> list[dict[str, Any]]:
        return [column.as_dict() for column in self.columns]

    def validate(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """The records with every value checked and converted; raises on the first problems."""
        if not records:
            raise InvalidInput("no records to predict: send at least one")
        problems: list[str] = []
        clean: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            where = f"record {index}" if len(records) > 1 else "input"
            if not isinstance(record, Mapping):
                problems.append(
                    f"{where}: expected an object with the fields {self.names()}, "
                    f"got {type(record).__name__}"
                )
                continue
            row: dict[str, Any] = {}
            for name in record:
                if name not in self.by_name:
                    problems.append(
                        f"{where}: unknown field {name!r} (the model takes {self.names()})"
                    )
            for column in self.columns:
                if column.name not in record or record[column.name] is None:
                    if column.required:
                        missing = "missing" if column.name not in record else "null in"
                        problems.append(
                            f"{where}: field {column.name!r} ({column.type}) is {missing} "
                            "the input; it is required"
                        )
                    row[column.name] = None
                    continue
                try:
                    row[column.name] = convert(record[column.name], column.type)
                except ValueError as problem:
                    problems.append(f"{where}: field {column.name!r}: {problem}")
            clean.append(row)
            if len(problems) >= MAX_PROBLEMS:
                break
        if problems:
            raise InvalidInput("; ".join(problems[:MAX_PROBLEMS]))
        return clean

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> pandas.DataFrame:
        """Validated rows as the DataFrame the model expects, one typed column per input."""
        import numpy as np
        import pandas as pd

        data: dict[str, Any] = {}
        for column, dtype in zip(self.columns, self.dtypes(rows), strict=True):
            values = [row[column.name] for row in rows]
            data[column.name] = np.array(values, dtype=dtype) if dtype != "object" else values
        return pd.DataFrame(data, columns=[column.name for column in self.columns])

    def missing(self, rows: Sequence[Mapping[str, Any]]) -> frozenset[str]:
        """The columns with a missing value in ``rows``: what their :meth:`dtypes` depend on
        (rows with the same missing columns make frames of the same column types)."""
        if all(v is not None for row in rows for v in row.values()):
            return frozenset()
        return frozenset(name for row in rows for name, value in row.items() if value is None)

    def dtypes(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """The numpy dtype of each column of :meth:`frame` for ``rows``."""
        found = []
        for column in self.columns:
            dtype = TYPES.get(column.type, ("", "object"))[1]
            if any(row[column.name] is None for row in rows):
                # Missing optional values: NaN in floats, None elsewhere (as pandas reads JSON).
                dtype = "float64" if dtype.startswith(("int", "float")) else "object"
                if column.type == "datetime":
                    dtype = "datetime64[ns]"
            found.append(dtype)
        return found

    def names(self) -> str:
        return ", ".join(column.name for column in self.columns)


def convert(value: Any, kind: str) -> Any:
    """``value`` (decoded JSON) as a value of MLflow type ``kind``; ValueError says why not."""
    if kind in ("long", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected {TYPES[kind][0]}, got {describe(value)}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected {TYPES[kind][0]}, got {value!r}")
        limit = 2**31 if kind == "integer" else 2**63
        if not -limit <= value < limit:
            raise ValueError(f"{value} is out of range for {kind}")
        return int(value)
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected {TYPES[kind][0]}, got {describe(value)}")
        number = float(value)
        if math.isinf(number) or math.isnan(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected {TYPES[kind][0]}, got {describe(value)}")
        return value
    if kind in ("string", "binary"):
        if not isinstance(value, str):
            raise ValueError(f"expected {TYPES[kind][0]}, got {describe(value)}")
        return value
    if kind == "datetime":
        return parse_datetime(value)
    return value


def parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise ValueError(f"expected {TYPES['datetime'][0]}, got {describe(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected {TYPES['datetime'][0]}, got {value!r}") from None
    # The model was trained on naive timestamps (pandas drops zones in signatures).
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, list | dict):
        return "an array" if isinstance(value, list) else "an object"
    return repr(value)
