"""What a container test sends: records of a model version to compare the image's answers
with Atelier's own.

First the model's input example; then the inputs of its recent predictions (the prediction
log, newest first); when the version served fewer predictions than the sample asks (a new
version has served none), validation rows top the sample up: rows of the warehouse tables its
training run read (the run's data versions), at the snapshot it read them, reduced to the
model's input columns. A record the signature refuses (an old log entry, a null in a training
table) and a record already taken are left out. The rows are read on the server with a trusted
connection and go only to the container started on this host; nothing of them is shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError, InvalidInput

if TYPE_CHECKING:
    from atelier.services.serving import ModelServer
    from atelier.services.serving.schema import InputSchema
    from atelier.services.tracking.registry import ModelRegistry, VersionInfo

#: Where records come from, in the order they are taken.
SOURCES = ("example", "predictions", "validation")


def gather(
    serving: ModelServer,
    registry: ModelRegistry,
    model: Any,
    info: VersionInfo,
    sample: int,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The records to send and how many came from each of :data:`SOURCES`: the input example,
    up to ``sample`` recent logged inputs, topped up to ``sample`` with validation rows."""
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    sources = dict.fromkeys(SOURCES, 0)

    def add(found: Sequence[dict[str, Any]], source: str, limit: int | None) -> None:
        for record in found:
            if limit is not None and sources[source] >= limit:
                return
            key = json.dumps(record, sort_keys=True, default=str)
            if key in seen or not accepted(model.schema, record):
                continue
            seen.add(key)
            records.append(record)
            sources[source] += 1

    add(list(model.example or []), "example", None)
    if sample > 0:
        add(recent_inputs(serving, info, sample), "predictions", sample)
        wanted = sample - sources["predictions"]
        if wanted > 0 and model.schema is not None:
            # More rows are read than wanted: some may repeat a record or be refused.
            more = 2 * wanted + len(records) + 10
            rows = validation_rows(serving, registry, info, model.schema, more)
            add(rows, "validation", wanted)
    return records, sources


def recent_inputs(serving: ModelServer, info: VersionInfo, sample: int) -> list[dict[str, Any]]:
    """The inputs of the version's last ``sample`` logged predictions, newest first."""
    from atelier.services.serving.tables import SCHEMA, table_name

    serving.flush()
    table = f"{SCHEMA}.{table_name(info.name)}"
    try:
        with serving.warehouse.connect() as connection:
            rows = connection.execute(
                f"SELECT inputs FROM {table} WHERE model = ? AND model_version = ? "
                "ORDER BY predicted_at DESC LIMIT ?",
                [info.name, info.version, int(sample)],
            ).fetchall()
    except Exception:  # no table yet: the version never served a prediction
        return []
    found = []
    for (text,) in rows:
        try:
            value = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def validation_rows(
    serving: ModelServer,
    registry: ModelRegistry,
    info: VersionInfo,
    schema: InputSchema,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the warehouse tables the version's training run read, at the
    snapshot it read them, reduced to the signature's columns; a table that lacks a required
    column, or that cannot be read any more, gives none."""
    from atelier.backends.warehouse.sql import qualified

    try:
        tables = registry.card(f"{info.name}/{info.version}").get("data_versions") or []
    except AtelierError:
        return []
    found: list[dict[str, Any]] = []
    warehouse = serving.warehouse
    for entry in tables:
        parts = str(entry.get("table") or "").split(".")
        version = entry.get("version")
        if len(parts) != 2 or not isinstance(version, int) or len(found) >= limit:
            continue  # a source's table (no versions) or a malformed entry
        at = f"{qualified(warehouse.alias, *parts)} AT (VERSION => {int(version)})"
        try:
            with warehouse.connect() as connection:
                described = connection.execute(f"DESCRIBE SELECT * FROM {at}").fetchall()
                present = {str(row[0]) for row in described}
                if any(c.required and c.name not in present for c in schema.columns):
                    continue
                chosen = [c.name for c in schema.columns if c.name in present]
                picked = ", ".join(qualified(name) for name in chosen)
                rows = connection.execute(
                    f"SELECT {picked} FROM {at} LIMIT {int(limit - len(found))}"
                ).fetchall()
        except Exception:  # dropped, expired or unreadable: no rows from this table
            continue
        found += [
            {name: json_value(value) for name, value in zip(chosen, row, strict=True)}
            for row in rows
        ]
    return found


def describe(sources: Mapping[str, int]) -> str:
    """``2 of the input example, 1 recent prediction, 3 training rows``: where the records of
    a container test came from, as the card and the CLI say it."""
    parts = []
    if sources.get("example"):
        parts.append(f"{sources['example']} of the input example")
    for key, one, many in (
        ("predictions", "recent prediction", "recent predictions"),
        ("validation", "training row", "training rows"),
    ):
        count = int(sources.get(key) or 0)
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    return ", ".join(parts)


def accepted(schema: InputSchema | None, record: Mapping[str, Any]) -> bool:
    """Whether the signature takes ``record`` (a record it refuses would test the 422 path,
    which the container test checks on its own)."""
    if schema is None:
        return True
    try:
        schema.validate([record])
    except InvalidInput:
        return False
    return True


def json_value(value: Any) -> Any:
    """A warehouse value as the JSON a client would send for it."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
