"""The point-in-time engine: feature values for every entity row as of its event time, in SQL
on DuckDB.

Every entity row carries ``__atl_row`` (its position in the input) and ``__atl_ts`` (its event
time in nanoseconds); every answer has exactly one row per entity row, in that order.

Row features (the latest row at or before the event time, not older than the ttl):

* ``range`` — a hash join on the keys and on time buckets as wide as the ttl, keeping the
  candidates inside ``[event - ttl, event]``, and the newest time per entity row. No sort;
  cost grows with the rows each entity row sees within its ttl. Needs a finite ttl.
* ``asof`` — an ``ASOF LEFT JOIN`` on the keys and the time (sort-based): for no ttl, or when
  the ttl holds many rows per entity.

Both match on keys and times only (a narrow read of the feature rows), then join back to the
matched rows for their values, where ties on (keys, time) go to the newest ``created``.

Windowed aggregations (rows in ``(event - window, event]``):

* ``range`` — the same bucketed range join, grouped per entity row with one filtered
  aggregate per (function, window); cheap when few feature rows fall in each window.
* ``window`` — entity rows and feature rows in one relation, aggregated by window functions
  over ``RANGE`` frames (one sort, however many entity rows).

With ``filter_keys`` the feature rows are first cut to the keys of the entity frame (a semi
join) before a sort-based plan: worth it when the frame is small relative to the feature
table. Feature rows outside the frame's time span (widened by the ttl or the largest window)
are left out first, by bounds on ``__atl_ts`` (exact) and on the view's own time column
(widened by a day, for the scan to skip files and row groups by their statistics). The
semi join of ``filter_keys`` hands a small frame's keys to the scan as a filter (see
``dynamic_or_filter_threshold`` in
:meth:`~atelier.services.features.store.FeatureStore.connection`). :func:`choose_plan`
picks by the shape of the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from atelier.backends.warehouse.sql import ident
from atelier.errors import InvalidInput
from atelier.services.features.compile import ROW, TS, Compiled
from atelier.services.features.definitions import Aggregation, Derived

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

#: The name of a view's matched feature time in answers that ask for it.
EVENT = "__atl_event_ns"
_AGGREGATES = {
    "count": "count({x})",
    "sum": "sum({x})",
    "avg": "avg({x})",
    "min": "min({x})",
    "max": "max({x})",
    "stddev": "stddev_samp({x})",
    # The latest non-null value; equal times go to the greater value so the answer never varies.
    "last": "arg_max({x}, struct_pack(t := {t}, v := {x}))",
}


@dataclass(frozen=True)
class Plan:
    rows: Literal["asof", "range"] = "asof"
    windows: Literal["range", "window"] = "window"
    filter_keys: bool = False
    #: Range plan only: carry whole rows through the join (one read of the feature table)
    #: instead of matching on keys and times first and reading the values again.
    one_pass: bool = False

    def describe(self) -> str:
        keys = ", feature rows cut to the frame's keys first" if self.filter_keys else ""
        once = " in one pass" if self.one_pass and self.rows == "range" else ""
        return f"rows: {self.rows} join{once}; windows: {self.windows}{keys}"


def choose_plan(
    frame: Frame, entity_keys: int, feature_rows: int | None, ttl: int | None, max_window: int
) -> Plan:
    """Pick joins by the shape of the request.

    A range join costs about the candidate pairs it makes: each entity row times the feature
    rows of its key within the ttl (or window). That is estimated from the frame (rows,
    distinct keys, time span) and the feature table's row count (None: a query source,
    taken as large), assuming rows spread evenly over the frame's time span. When the pairs
    stay within a small multiple of the rows an ASOF join would sort, the range join wins
    (no sort, and only the frame's keys are hashed); otherwise, or without a ttl, ASOF.
    """
    rows = feature_rows if feature_rows is not None else 10**8
    span = (frame.max_ts or 0) - (frame.min_ts or 0)
    per_key = rows / max(entity_keys, 1)

    def pairs(reach: int | None) -> float:
        if reach is None:
            return float("inf")
        return frame.rows * per_key * min(1.0, reach / max(span + reach, 1))

    # Measured on 1.68M and 33.6M feature rows (bench/features): the range join of row
    # features loses to ASOF once its pairs pass a few times the rows ASOF sorts (1.68M
    # feature rows x 1M entity rows: about 11 times, and ASOF about 1.6x faster).
    return Plan(
        rows="range" if pairs(ttl) <= 4 * (rows + frame.rows) else "asof",
        windows="range"
        if max_window and pairs(max_window) <= 32 * (rows + frame.rows)
        else "window",
        filter_keys=frame.rows * 20 <= rows,
        # Candidate pairs far fewer than the table rows: cheaper to carry them whole than to
        # read the table a second time.
        one_pass=pairs(ttl) * 8 <= rows,
    )


def aggregate_sql(function: str, expression: str, time: str, condition: str) -> str:
    """One filtered aggregate, e.g. ``sum(x) FILTER (WHERE cond)``."""
    call = _AGGREGATES[function].format(x=expression, t=time)
    return f"{call} FILTER (WHERE ({condition}) AND ({expression}) IS NOT NULL)"


@dataclass(frozen=True)
class Frame:
    """The entity relation on the connection and what is known about it; ``table``: the same
    rows in Arrow, when the frame came from Python (statistics are then counted there, not
    by a query)."""

    relation: str
    rows: int
    min_ts: int | None
    max_ts: int | None
    table: pa.Table | None = field(default=None, compare=False, repr=False)


def distinct_keys(con: duckdb.DuckDBPyConnection, frame: Frame, keys: Sequence[str]) -> int:
    """How many distinct values (tuples, nulls included) the frame's ``keys`` take."""
    table = frame.table
    if table is not None and all(k in table.column_names for k in keys):
        import pyarrow.compute as pc

        if len(keys) == 1:
            return int(pc.count_distinct(table.column(keys[0]), mode="all").as_py())
        return int(table.select(list(keys)).group_by(list(keys)).aggregate([]).num_rows)
    wanted = ", ".join(ident(k) for k in keys)
    row = con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT {wanted} FROM {frame.relation})"
    ).fetchone()
    return int(row[0]) if row else 0


_KEY_KINDS = {
    "TINYINT": "integer",
    "SMALLINT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "HUGEINT": "integer",
    "UTINYINT": "integer",
    "USMALLINT": "integer",
    "UINTEGER": "integer",
    "UBIGINT": "integer",
    "UHUGEINT": "integer",
    "FLOAT": "number",
    "DOUBLE": "number",
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "DATE": "time",
    "UUID": "uuid",
    "BLOB": "bytes",
}


def _key_kind(duckdb_type: str) -> str:
    """The family of a key's type: keys of one family compare by value (an INTEGER 1 is a
    BIGINT 1); keys of different families would be compared after a cast, which matches
    strings such as ``"01"``, ``"1.0"`` or ``" 1"`` to the integer 1."""
    kind = duckdb_type.upper()
    if kind.startswith("DECIMAL"):
        return "number"
    if kind.startswith("TIMESTAMP"):
        return "time"
    if kind.startswith("ENUM"):
        return "string"
    return _KEY_KINDS.get(kind, kind)


def check_keys(con: duckdb.DuckDBPyConnection, compiled: Compiled, frame: Frame) -> None:
    """Refuse entity keys whose type is of another family than the view's key column (a
    string entity key against an integer key column): DuckDB would cast one to the other
    and match keys that are not equal. Integers and other numbers may meet (1 = 1.0); a
    column of nulls only (type NULL) matches nothing and is let through."""
    described = con.execute(f"DESCRIBE SELECT * FROM {frame.relation}").fetchall()
    given = {str(row[0]): str(row[1]) for row in described}
    for key in compiled.view.keys:
        mine, theirs = given.get(key), compiled.columns.get(key)
        if mine is None or theirs is None or mine == theirs or "NULL" in (mine, theirs):
            continue
        a, b = _key_kind(mine), _key_kind(theirs)
        if a == b or {a, b} <= {"integer", "number"}:
            continue
        raise InvalidInput(
            f"entity key {key!r} is {mine} in the entity frame but {theirs} in feature view "
            f"{compiled.view.name!r}: keys are compared by value, not converted; give the "
            f"frame's {key!r} column the view's type (for example "
            f"{'astype(int)' if b == 'integer' else 'astype(str)' if b == 'string' else theirs})"
        )


def _keys_on(keys: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{ident(k)} = {right}.{ident(k)}" for k in keys)


def _feature_rows(
    compiled: Compiled, frame: Frame, reach: int | None, *, filter_keys: bool = False
) -> str:
    """The view's rows that can matter: within the frame's time span (widened by ``reach``
    into the past; None: unbounded) and, with ``filter_keys``, of the frame's keys only.

    The key filter is a semi join: it pays where a sort or a window would otherwise take
    every row (ASOF, window plans), not in front of a hash join on the keys, which filters
    as well on its own."""
    keys = compiled.view.keys
    where = []
    if frame.max_ts is not None:
        where.append(f"s.{TS} <= {frame.max_ts}")
        low = None
        if reach is not None and frame.min_ts is not None:
            low = frame.min_ts - reach
            where.append(f"s.{TS} >= {low}")
        where += _raw_time_bounds(compiled, low, frame.max_ts)
    sql = f"SELECT s.* FROM {compiled.relation} s"
    if filter_keys:
        wanted = ", ".join(ident(k) for k in keys)
        sql += (
            f" SEMI JOIN (SELECT DISTINCT {wanted} FROM {frame.relation}) q"
            f" ON {_keys_on(keys, 's', 'q')}"
        )
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql


#: Widening of the bounds put on a view's own time column: they only let the scan skip files
#: and row groups (the exact bounds are on ``__atl_ts``), so a day of slack is harmless and
#: keeps them clear of rounding in any of the column's types.
_SLACK = 86_400 * 10**9
#: Bounds outside this span (ns) are left off: TIMESTAMP_NS ends in 2262.
_BOUNDS = (-9_200_000_000 * 10**9, 9_200_000_000 * 10**9)


def _raw_time_bounds(compiled: Compiled, low: int | None, high: int) -> list[str]:
    """The time bounds of the feature rows (ns, inclusive; ``low`` None: none) as conditions
    on the view's own time column, which DuckDB checks against the Parquet files' and row
    groups' statistics (a condition on ``__atl_ts``, an expression, is checked row by row)."""
    from datetime import UTC, datetime, timedelta

    column = compiled.view.timestamp
    kind = compiled.columns.get(column, "")
    if kind not in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE") and (
        not kind.startswith("TIMESTAMP WITH TIME ZONE")
    ):
        return []

    def literal(ns: int) -> str:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
        if kind == "DATE":
            return f"DATE '{moment.date().isoformat()}'"
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        if kind.startswith("TIMESTAMP WITH"):
            return f"CAST('{text}+00' AS TIMESTAMPTZ)"
        return f"CAST('{text}' AS {kind})"

    bounds = []
    if low is not None and low - _SLACK > _BOUNDS[0]:
        bounds.append(f"s.{ident(column)} >= {literal(low - _SLACK)}")
    if high + _SLACK < _BOUNDS[1]:
        bounds.append(f"s.{ident(column)} <= {literal(high + _SLACK)}")
    return bounds


def _buckets(frame: Frame, width: int) -> tuple[str, str]:
    """Time buckets as wide as the ttl (or window) for a range join: a feature row within
    ``width`` before an event is in the event's bucket or the one before, so each entity row
    is joined twice, on (keys, bucket) and (keys, bucket - 1), and compared only with the
    feature rows of those two buckets instead of all rows of its key. Buckets count from
    ``min_ts - width``, below which no feature row is read, so integer division is a floor.
    Returns ``(entity relation with __atl_b, feature bucket expression)``."""
    base = (frame.min_ts or 0) - width
    entities = f"""(
      SELECT *, ({TS} - {base}) // {width} AS __atl_b FROM {frame.relation}
      UNION ALL
      SELECT *, ({TS} - {base}) // {width} - 1 AS __atl_b FROM {frame.relation})"""
    return entities, f"({TS} - {base}) // {width} AS __atl_b"


def lookup_rows(
    con: duckdb.DuckDBPyConnection,
    compiled: Compiled,
    frame: Frame,
    features: Sequence[Derived],
    plan: Plan,
    *,
    ttl: int | None,
    event_time: bool = False,
) -> pa.Table:
    """Row features of the view for every entity row: columns ``__atl_f0…`` (and ``EVENT``
    with ``event_time``), one row per entity row, in order."""
    keys = compiled.view.keys
    check_keys(con, compiled, frame)
    source = _feature_rows(compiled, frame, ttl)
    narrow = ", ".join(ident(k) for k in keys)
    entity_keys = ", ".join(f"e.{ident(k)}" for k in keys)
    if plan.rows == "range" and ttl is not None:
        # The newest time within the ttl per entity row, from keys and times only.
        entities, bucket = _buckets(frame, ttl)
        matched = f"""
          SELECT e.{ROW}, e.{TS}, {entity_keys}, x.__atl_fts
          FROM {frame.relation} e JOIN (
            SELECT e.{ROW}, max(k.{TS}) AS __atl_fts
            FROM {entities} e JOIN (SELECT {narrow}, {TS}, {bucket} FROM src) k
              ON {_keys_on(keys, "e", "k")} AND k.__atl_b = e.__atl_b
                 AND k.{TS} <= e.{TS} AND k.{TS} >= e.{TS} - {ttl}
            GROUP BY e.{ROW}) x ON x.{ROW} = e.{ROW}"""
    else:
        asof_rows = _feature_rows(compiled, frame, ttl, filter_keys=plan.filter_keys)
        matched = f"""
          SELECT e.{ROW}, e.{TS}, {entity_keys}, k.{TS} AS __atl_fts
          FROM {frame.relation} e ASOF LEFT JOIN (SELECT {narrow}, {TS} FROM ({asof_rows})) k
            ON {_keys_on(keys, "e", "k")} AND e.{TS} >= k.{TS}"""
    fresh = f"m.__atl_fts >= m.{TS} - {ttl}" if ttl is not None else "true"
    # Back to the matched rows for their values; rows sharing keys and time compete.
    candidates = f"""
        SELECT m.{ROW}, s.* FROM m JOIN src s
          ON {_keys_on(keys, "m", "s")} AND s.{TS} = m.__atl_fts
        WHERE {fresh}"""
    newest = ""
    if plan.rows == "range" and plan.one_pass and ttl is not None:
        entities, bucket = _buckets(frame, ttl)
        matched = "SELECT 1"
        candidates = f"""
        SELECT e.{ROW}, s.* FROM {entities} e JOIN (SELECT *, {bucket} FROM src) s
          ON {_keys_on(keys, "e", "s")} AND s.__atl_b = e.__atl_b
             AND s.{TS} <= e.{TS} AND s.{TS} >= e.{TS} - {ttl}"""
        newest = f"c.{TS} DESC, "
    values = [f"{compiled.expression(f)} AS __atl_f{i}" for i, f in enumerate(features)]
    if event_time:
        values.append(f"{TS} AS {EVENT}")
    ties = compiled.order_for_ties("c")
    picked = ", ".join(f"v.__atl_f{i}" for i in range(len(features)))
    if event_time:
        picked += (", " if picked else "") + f"v.{EVENT}"
    sql = f"""
    WITH src AS NOT MATERIALIZED ({source}),
    m AS ({matched}),
    c AS ({candidates}),
    best AS (
      SELECT * FROM c
      QUALIFY row_number() OVER (PARTITION BY c.{ROW} ORDER BY {newest}{ties}) = 1),
    v AS (SELECT {ROW}, {", ".join(values)} FROM best)
    SELECT e.{ROW}, {picked}
    FROM {frame.relation} e LEFT JOIN v ON v.{ROW} = e.{ROW}
    ORDER BY e.{ROW}"""
    return _run(con, sql, frame, compiled)


def lookup_windows(
    con: duckdb.DuckDBPyConnection,
    compiled: Compiled,
    frame: Frame,
    aggregates: Sequence[tuple[str, Aggregation, str, int]],
    plan: Plan,
) -> pa.Table:
    """Windowed aggregates for every entity row: ``__atl_f0…`` in the order given."""
    keys = compiled.view.keys
    check_keys(con, compiled, frame)
    reach = max(w for *_, w in aggregates)
    source = _feature_rows(
        compiled, frame, reach, filter_keys=plan.filter_keys and plan.windows == "window"
    )
    if compiled.view.created:
        # Rows sharing keys and time are versions of one fact: only the newest counts.
        partition = ", ".join(f"d.{ident(k)}" for k in keys)
        source = f"""SELECT * FROM ({source}) d
          QUALIFY row_number() OVER (PARTITION BY {partition}, d.{TS}
                                     ORDER BY {compiled.order_for_ties("d")}) = 1"""
    inputs = sorted({a.column for _, a, _, _ in aggregates})
    x = {column: f"__atl_x{i}" for i, column in enumerate(inputs)}
    projected = ", ".join(f"{compiled.input_expression(c)} AS {x[c]}" for c in inputs)
    key_list = ", ".join(ident(k) for k in keys)
    if plan.windows == "range":
        items = [
            aggregate_sql(fn, f"s.{x[a.column]}", f"s.{TS}", f"s.{TS} > e.{TS} - {w}")
            + f" AS __atl_f{i}"
            for i, (_, a, fn, w) in enumerate(aggregates)
        ]
        entities, bucket = _buckets(frame, reach)
        sql = f"""
        WITH src AS NOT MATERIALIZED (
          SELECT {key_list}, {TS}, {projected}, {bucket} FROM ({source}))
        SELECT e.{ROW}, {", ".join(items)}
        FROM {entities} e LEFT JOIN src s
          ON {_keys_on(keys, "e", "s")} AND s.__atl_b = e.__atl_b
             AND s.{TS} <= e.{TS} AND s.{TS} > e.{TS} - {reach}
        GROUP BY e.{ROW} ORDER BY e.{ROW}"""
        return _run(con, sql, frame, compiled)
    windows = sorted({w for *_, w in aggregates})
    named = ", ".join(
        f"w{w} AS (PARTITION BY {key_list} ORDER BY {TS} "
        f"RANGE BETWEEN {w - 1} PRECEDING AND CURRENT ROW)"
        for w in windows
    )
    items = [
        aggregate_sql(fn, x[a.column], TS, "true") + f" OVER w{w} AS __atl_f{i}"
        for i, (_, a, fn, w) in enumerate(aggregates)
    ]
    sql = f"""
    WITH src AS (SELECT {key_list}, {TS}, {projected}, NULL::BIGINT AS {ROW} FROM ({source})),
    u AS (SELECT * FROM src UNION ALL BY NAME SELECT {key_list}, {TS}, {ROW} FROM {frame.relation}),
    w AS (SELECT {ROW}, {", ".join(items)} FROM u WINDOW {named})
    SELECT * FROM w WHERE {ROW} IS NOT NULL ORDER BY {ROW}"""
    return _run(con, sql, frame, compiled)


def _run(con: duckdb.DuckDBPyConnection, sql: str, frame: Frame, compiled: Compiled) -> pa.Table:
    import duckdb

    try:
        result = con.execute(sql).to_arrow_table()
    except duckdb.Error as error:
        text = str(error)
        if "Python feature" in text:
            raise InvalidInput(text.split("Error: ", 1)[-1]) from None
        raise InvalidInput(
            f"feature view {compiled.view.name!r}: could not compute features: {text}"
        ) from None
    if result.num_rows != frame.rows:  # pragma: no cover - an engine bug, never the user's
        raise RuntimeError(
            f"view {compiled.view.name}: {result.num_rows} rows for {frame.rows} entity rows"
        )
    return result
