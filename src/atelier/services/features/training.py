"""Training sets: the entity frame with, for each of its rows, the requested features as of the
row's event time.

Features are named ``"view:feature"``, ``"view:*"`` (all of a view's features) or
``"view@3:feature"`` (the view as it was in version 3); a feature service's name stands for its
features. Output columns are named after the features (``view__feature`` with
``full_names=True``, which two views with a feature of the same name need).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from atelier.backends.metadata import (
    Database,
    FeatureServiceRecord,
    FeatureViewRecord,
    FeatureViewVersion,
)
from atelier.backends.warehouse.sql import ident
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.features.compile import ROW, TS
from atelier.services.features.definitions import FeatureView
from atelier.services.features.engine import Frame
from atelier.services.features.frames import event_ns

if TYPE_CHECKING:
    import duckdb
    import pandas
    import polars
    import pyarrow as pa

    from atelier.backends.warehouse.masking import Masking

ENTITIES = "__atl_entities"


@dataclass(frozen=True)
class ResolvedView:
    view: FeatureView
    version: int
    project: str
    shared: bool


@dataclass
class Request:
    """One view's share of a training set: which of its features, under which column names."""

    resolved: ResolvedView
    features: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


@dataclass
class TrainingSet:
    """A computed training set: ``table`` (Arrow), and where it was saved (``name``,
    ``version``: the DuckLake snapshot) when it was. ``view_versions`` says which version of
    each feature view made it; ``plans`` how each view was joined; ``pii`` which columns hold
    personal data (column -> kind: the entity table's tagged columns and the features
    computed from tagged columns)."""

    table: pa.Table
    features: list[str]
    view_versions: dict[str, int]
    plans: dict[str, str]
    name: str | None = None
    version: int | None = None
    pii: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    def to_pandas(self) -> pandas.DataFrame:
        # One block per column: no copy into consolidated 2-D blocks.
        return self.table.to_pandas(split_blocks=True)

    def to_polars(self) -> polars.DataFrame:
        import polars

        frame = polars.from_arrow(self.table)
        assert isinstance(frame, polars.DataFrame)
        return frame

    def lineage(self) -> dict[str, Any]:
        """What a training run records: the training set, the feature-view versions and the
        columns that hold personal data (column -> kind)."""
        return {
            "training_set": self.name,
            "training_set_version": self.version,
            "features": self.features,
            "feature_views": self.view_versions,
            "pii": dict(self.pii),
        }


def resolve_view(db: Database, name: str, version: int | None = None) -> ResolvedView:
    """A view as applied now, or as it was in ``version``."""
    with db.session() as session:
        row = session.scalar(select(FeatureViewRecord).where(FeatureViewRecord.name == name))
        if version is None:
            if row is None:
                raise NotFound(f"no feature view {name!r}: see `atelier features list`")
            return ResolvedView(
                FeatureView.from_spec(row.spec), row.version, row.project, row.shared
            )
        old = session.scalar(
            select(FeatureViewVersion).where(
                FeatureViewVersion.view == name, FeatureViewVersion.version == version
            )
        )
        if old is None:
            raise NotFound(f"feature view {name!r} has no version {version}")
        project = row.project if row else ""
        return ResolvedView(
            FeatureView.from_spec(old.spec), version, project, row.shared if row else True
        )


def service_features(db: Database, name: str) -> list[str]:
    with db.session() as session:
        row = session.scalar(select(FeatureServiceRecord).where(FeatureServiceRecord.name == name))
        if row is None:
            raise NotFound(f"{name!r} is neither a feature ('view:feature') nor a feature service")
        return list(row.features)


def plan_requests(
    db: Database,
    features: str | Sequence[str],
    *,
    project: str | None,
    full_names: bool,
    reserved: Sequence[str] = (),
) -> list[Request]:
    """Parse feature references into one :class:`Request` per (view, version)."""
    refs = [features] if isinstance(features, str) else list(features)
    if not refs:
        raise InvalidInput("name at least one feature ('view:feature')")
    expanded: list[str] = []
    for ref in refs:
        expanded += service_features(db, ref) if ":" not in ref else [ref]
    requests: dict[tuple[str, int | None], Request] = {}
    for ref in expanded:
        view_part, _, feature = ref.partition(":")
        name, _, version_text = view_part.partition("@")
        if not name or not feature:
            raise InvalidInput(f"{ref!r} is not a feature reference: write 'view:feature'")
        try:
            version = int(version_text) if version_text else None
        except ValueError:
            raise InvalidInput(f"{ref!r}: the version after @ must be a number") from None
        request = requests.get((name, version))
        if request is None:
            resolved = resolve_view(db, name, version)
            if not resolved.shared and project != resolved.project:
                raise PermissionDenied(
                    f"feature view {name!r} is not shared: only project {resolved.project!r} "
                    "may use it"
                )
            request = requests[name, version] = Request(resolved)
        known = request.resolved.view.feature_names()
        wanted = known if feature == "*" else [feature]
        for item in wanted:
            if item not in known:
                raise NotFound(
                    f"feature view {name!r} has no feature {item!r} (it has {', '.join(known)})"
                )
            if item not in request.features:
                request.features.append(item)
                request.columns.append(f"{name}__{item}" if full_names else item)
    check_columns(list(requests.values()), reserved)
    return list(requests.values())


def check_columns(requests: Sequence[Request], reserved: Sequence[str]) -> None:
    """Refuse two features, or a feature and an input column (``reserved``), that would be
    output columns of one name."""
    taken: dict[str, str] = {column: "the entity frame" for column in reserved}
    for request in requests:
        for column, feature in zip(request.columns, request.features, strict=True):
            ref = f"{request.resolved.view.name}:{feature}"
            if column in taken:
                raise InvalidInput(
                    f"{ref} would be column {column!r}, which {taken[column]} already has: "
                    "pass full_names=True to name columns view__feature"
                )
            taken[column] = ref


def lineage_json(training: TrainingSet, entities: str, lake_snapshot: int | None) -> str:
    """What the schema metadata ``atelier.training_set`` holds: :meth:`TrainingSet.lineage`,
    where the entity rows came from and the lake snapshot the features were read at."""
    lineage = training.lineage() | {"entities": entities, "lake_snapshot": lake_snapshot}
    return json.dumps(lineage, sort_keys=True)


def read_table(
    con: duckdb.DuckDBPyConnection, name: str, masking: Masking | None = None, lake: str = "lake"
) -> pa.Table:
    """The entity table ``name``, its tagged columns read through ``masking``."""
    import duckdb

    from atelier.backends.warehouse.masking import rewrite

    parts = name.split(".", 2)
    if not all(parts):
        raise InvalidInput(
            f"{name!r} is not a table name (schema.table, or source.schema.table for a table "
            "of an attached source)"
        )
    try:
        sql = f"SELECT * FROM {'.'.join(ident(p) for p in parts)}"
        if masking:
            sql = rewrite(con, sql, masking, lake)
        return con.execute(sql).to_arrow_table()
    except duckdb.Error as error:
        raise NotFound(f"cannot read entity table {name!r}: {error}") from None


def register_frame(
    con: duckdb.DuckDBPyConnection, table: pa.Table, column: str, requests: list[Request]
) -> Frame:
    """Put the entity rows (row number, time in ns, the keys the views need) on ``con``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    keys: list[str] = []
    for request in requests:
        for key in request.resolved.view.keys:
            if key not in table.column_names:
                raise InvalidInput(
                    f"the entity frame has no column {key!r}, the key of feature view "
                    f"{request.resolved.view.name!r}"
                )
            if key not in keys:
                keys.append(key)
    nanos = event_ns(table, column)
    narrow = pa.table(
        {ROW: pa.array(np.arange(table.num_rows, dtype=np.int64)), TS: nanos}
        | {key: table.column(key) for key in keys}
    )
    con.register("__atl_frame", narrow)
    # A table (not the Arrow scan) so the optimizer knows how many rows there are.
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ENTITIES} AS SELECT * FROM __atl_frame")
    con.unregister("__atl_frame")
    low, high = pc.min(nanos).as_py(), pc.max(nanos).as_py()
    return Frame(ENTITIES, table.num_rows, low, high, narrow)


def lake_snapshot(con: duckdb.DuckDBPyConnection, alias: str) -> int | None:
    """The lake snapshot ``con`` reads (one catalog lookup, not a listing of every snapshot)."""
    row = con.execute("SELECT * FROM ducklake_current_snapshot(?)", [alias]).fetchone()
    return int(row[0]) if row and row[0] is not None else None
