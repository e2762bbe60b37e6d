"""Online serving: ``materialize`` writes each entity's latest feature values to the online
store; ``online`` looks them up by key.

A full run computes every entity's values as of ``as_of`` (now by default) and replaces the
view's records. An incremental run recomputes only the entities that can have changed since
the last run: those with rows newer than it (for windowed aggregations, newer than the last
run minus the largest window, since old rows leave the windows as time passes) and, for a
warehouse table source, those whose rows were inserted, updated or deleted in the lake since
(late data included). Row features older than their ttl are served as null, as in training
sets; windowed aggregations are as of the last run.

Personal data: the store keeps values as computed on the server (a feature computed from a
tagged column may be kept raw), and every lookup masks such a feature for its reader by the
same rules and grants as SQL (:class:`~atelier.services.features.pii.Reader`: raw only with a
raw grant for every tagged column behind it, an export grant when the result leaves the
server). The tags are read at each lookup: a column tagged after a materialization is masked
from the next lookup on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from atelier.backends.metadata import FeatureMaterialization, FeatureViewRecord
from atelier.backends.online import encode_key, from_values, open_store, to_records
from atelier.backends.warehouse.sql import ident, literal
from atelier.errors import InvalidInput, NotFound
from atelier.services.features.compile import ROW, TS, Compiled, compile_view
from atelier.services.features.definitions import FeatureView
from atelier.services.features.engine import EVENT, Frame, Plan, lookup_rows, lookup_windows
from atelier.services.features.exclusive import materializing
from atelier.services.features.frames import to_arrow
from atelier.services.features.pii import (
    FeaturePii,
    Reader,
    closed_masker,
    feature_pii,
    live_tags,
    table_key,
)
from atelier.services.features.training import lake_snapshot, plan_requests

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from atelier.backends.warehouse.masking import Masking
    from atelier.services.features.store import FeatureStore

KEYS = "__atl_materialize"


def materialize(
    store: FeatureStore,
    names: Sequence[str] | None = None,
    *,
    incremental: bool = False,
    as_of: datetime | None = None,
    masking: Masking | None = None,
) -> list[dict[str, Any]]:
    """Materialize the named views (all by default); one summary per view. ``masking``: a
    plan to read the sources through (None: as they are; lookups mask for each reader).
    Holds each view's materialization lease for the run (:mod:`.exclusive`): refused when
    another run of one of them is under way, on this server or another."""
    import duckdb

    from atelier.services.features.store import utc_ns

    moment = utc_ns(as_of or datetime.now(UTC))
    with store.db.session() as session:
        query = select(FeatureViewRecord).order_by(FeatureViewRecord.name)
        if names:
            query = query.where(FeatureViewRecord.name.in_(list(names)))
        rows = [(r.name, r.version, r.spec) for r in session.scalars(query)]
    missing = set(names or ()) - {name for name, _, _ in rows}
    if missing:
        raise NotFound(f"no feature view {', '.join(sorted(missing))}")
    with materializing(store.lease_keeper(), [name for name, _, _ in rows]):
        online = open_store(store.settings, store.root)
        results = []
        try:
            for name, version, spec in rows:
                started = datetime.now(UTC)
                clock = time.perf_counter()
                previous = _previous(store, name, version) if incremental else None
                view = FeatureView.from_spec(spec)
                with store.connection([view], masking=masking) as con:
                    masked = store.masked_view(con, view, masking)
                    compiled = compile_view(con, masked, read=True)
                    snapshot = lake_snapshot(con, store.warehouse.alias)
                    alias = store.warehouse.alias
                    try:
                        count, schema, records = _compute(
                            con, compiled, moment, previous, snapshot, alias
                        )
                    except duckdb.Error:
                        if previous is None:
                            raise
                        # The table's history cannot say what changed (it was replaced since
                        # the last run): compute everything again.
                        previous = None
                        count, schema, records = _compute(
                            con, compiled, moment, None, snapshot, alias
                        )
                write = online.upsert if previous is not None else online.replace
                write(name, schema, records)
                with store.db.session() as session:
                    session.add(
                        FeatureMaterialization(
                            view=name,
                            view_version=version,
                            store=store.settings.online_store,
                            mode="incremental" if previous is not None else "full",
                            as_of_ns=moment,
                            lake_snapshot=snapshot,
                            entities=count,
                            started_at=started,
                            finished_at=datetime.now(UTC),
                        )
                    )
                results.append(
                    {
                        "view": name,
                        "version": version,
                        "mode": "incremental" if previous is not None else "full",
                        "entities": count,
                        "store": store.settings.online_store,
                        "seconds": round(time.perf_counter() - clock, 3),
                    }
                )
        finally:
            online.close()
    return results


def _previous(store: FeatureStore, view: str, version: int) -> tuple[int, int | None] | None:
    """``(as_of_ns, lake snapshot)`` of the last run of this view version on this store."""
    with store.db.session() as session:
        last = session.scalar(
            select(FeatureMaterialization)
            .where(
                FeatureMaterialization.view == view,
                FeatureMaterialization.store == store.settings.online_store,
            )
            .order_by(FeatureMaterialization.id.desc())
            .limit(1)
        )
        if last is None or last.view_version != version:
            return None  # nothing to build on: a full run
        return last.as_of_ns, last.lake_snapshot


def _compute(
    con: duckdb.DuckDBPyConnection,
    compiled: Compiled,
    moment: int,
    previous: tuple[int, int | None] | None,
    snapshot: int | None,
    alias: str,
) -> tuple[int, pa.Schema, list[tuple[str, list[Any]]]]:
    import pyarrow as pa

    view = compiled.view
    keys = ", ".join(ident(k) for k in view.keys)
    wanted = f"SELECT DISTINCT {keys} FROM {compiled.relation} WHERE {TS} <= {moment}"
    if previous is not None:
        since = previous[0] - view.max_window()
        wanted += f" AND {TS} > {since}"
        last = previous[1]
        if compiled.table is not None and last is not None and snapshot and snapshot > last:
            schema, _, table = compiled.table.partition(".")
            wanted += (
                f" UNION SELECT DISTINCT {keys} FROM ducklake_table_changes("
                f"{literal(alias)}, {literal(schema)}, {literal(table)}, "
                f"{last + 1}, {snapshot})"
            )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {KEYS} AS SELECT (row_number() OVER ()) - 1 AS {ROW}, "
        f"{moment}::BIGINT AS {TS}, {keys} FROM ({wanted})"
    )
    counted = con.execute(f"SELECT count(*) FROM {KEYS}").fetchone()
    count = int(counted[0]) if counted else 0
    frame = Frame(KEYS, count, moment, moment)
    plan = Plan(rows="asof", windows="range", filter_keys=previous is not None)
    names = ["__event_ns"]
    arrays: list[pa.ChunkedArray] = []
    rows = view.row_features()
    found = lookup_rows(con, compiled, frame, rows, plan, ttl=None, event_time=True)
    arrays.append(found.column(EVENT))
    for i, feature in enumerate(rows):
        names.append(feature.name)
        arrays.append(found.column(f"__atl_f{i}"))
    aggregates = view.aggregate_features()
    if aggregates:
        windows = lookup_windows(con, compiled, frame, aggregates, plan)
        for i, (name, *_) in enumerate(aggregates):
            names.append(name)
            arrays.append(windows.column(f"__atl_f{i}"))
    values = pa.Table.from_arrays(arrays, names=names)
    key_table = con.execute(f"SELECT {keys} FROM {KEYS} ORDER BY {ROW}").to_arrow_table()
    key_rows = to_records(key_table)
    records = [(encode_key(k), r) for k, r in zip(key_rows, to_records(values), strict=True)]
    return count, values.schema, records


def online(
    store: FeatureStore,
    keys: Any,
    features: str | Sequence[str],
    *,
    project: str | None = None,
    reader: Reader | None = None,
    raw: list[tuple[str, str, FeaturePii]] | None = None,
) -> pa.Table:
    """The latest materialized values of ``features`` for each row of ``keys`` (a frame or a
    mapping of key columns to values): one row per key row, in order; null where unknown.
    Features computed from tagged columns are shown as ``reader`` may see them (None: masked,
    every kind redacted); those shown raw are appended to ``raw`` as ``(view, feature, its
    personal data)``, for the audit of raw reads."""
    import pyarrow as pa

    from atelier.services.features.info import upstream_tables

    reader = reader or Reader(closed_masker(), frozenset(), frozenset())
    table = to_arrow(keys, "key frame")
    refs = [features] if isinstance(features, str) else list(features)
    if any("@" in ref.split(":")[0] for ref in refs):
        raise InvalidInput("online lookups serve the materialized version: drop the @version")
    requests = plan_requests(
        store.db, features, project=project, full_names=False, reserved=table.column_names
    )
    now = time.time_ns()
    columns = list(table.columns)
    names = list(table.column_names)
    backend = open_store(store.settings, store.root)
    try:
        for request in requests:
            view = request.resolved.view
            missing = [k for k in view.keys if k not in table.column_names]
            if missing:
                raise InvalidInput(
                    f"the keys frame has no column {missing[0]!r}, a key of view {view.name!r}"
                )
            key_rows = to_records(table.select(list(view.keys)))
            schema, records = backend.read(view.name, [encode_key(k) for k in key_rows])
            if schema is None:
                raise NotFound(
                    f"feature view {view.name!r} was never materialized: run "
                    f"`atelier features materialize {view.name}`"
                )
            rows = {f.name for f in view.row_features()}
            ttl = view.ttl_ns
            tags = live_tags(store.db, [table_key(t) for t in upstream_tables(view)])
            personal = feature_pii(view, tags)
            for feature, column in zip(request.features, request.columns, strict=True):
                if feature not in schema.names:
                    raise NotFound(
                        f"{view.name}:{feature} is not in the online store yet: materialize "
                        f"view {view.name!r} again"
                    )
                index = schema.get_field_index(feature)
                values = []
                for record in records:
                    stale = record is None or (
                        feature in rows
                        and (record[0] is None or (ttl is not None and now - record[0] > ttl))
                    )
                    values.append(None if stale or record is None else record[index])
                array = from_values(values, schema.field(index).type)
                if feature in personal:
                    array = reader.show(personal[feature], array)
                    if raw is not None and reader.raw(personal[feature]):
                        raw.append((view.name, feature, personal[feature]))
                columns.append(array)
                names.append(column)
    finally:
        backend.close()
    return pa.Table.from_arrays(columns, names=names)
