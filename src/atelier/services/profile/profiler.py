"""Profiles from DuckDB aggregate queries; the table never leaves DuckDB.

1. **Statistics**, like ``SUMMARIZE`` but cheaper (one quantile sketch per column instead of
   three, no text casts, warehouse tables scanned a few columns at a time): non-null count,
   min, max, estimated distinct count (HyperLogLog), mean, standard deviation and quartiles
   (``approx_quantile``, a t-digest), and for floating-point columns the number of NaN/infinite
   values, which are left out of the rest.
2. **Distributions**, one aggregate query: per column, by its estimated distinct values:

   * at most :data:`EXACT_LIMIT`: ``histogram(column)`` counts every value exactly, giving the
     top values, the exact distinct count, exact quartiles and, for numbers and times, the bins;
   * more numbers or times: ``histogram()`` of an equal-width bucket number (:data:`BINS` bins
     between the minimum and the maximum);
   * more texts: ``approx_top_k`` names the most frequent values (without counts).

Times are binned as numbers: days since 1970 for dates, microseconds for timestamps.

Personal data: a table is profiled as the acting person may read it, through the same masking
plan as their SQL (:meth:`atelier.services.pii.enforce.SqlMasking.plan`). A masked column is
profiled on its masked values (its type is the mask's: a generalised date of birth is a year),
so its top values, minimum, maximum, quartiles and histogram are those of the masked values,
never of the raw ones, and its note says so. Raw values need a raw grant, and an export grant
when the profile leaves the server (``remote``). Without a person every tagged column is masked.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from atelier.backends.warehouse import SourceError, Warehouse
from atelier.backends.warehouse.sql import ident
from atelier.errors import InvalidInput, NotFound
from atelier.services.catalog import Sources, TableRef, parse_table_name
from atelier.services.pii.audit import RawReadAudit
from atelier.services.pii.enforce import masked_read
from atelier.services.profile.model import Bin, ColumnKind, ColumnProfile, Profile

if TYPE_CHECKING:
    import duckdb

    from atelier.services.auth import Principal
    from atelier.services.catalog.catalog import MaskingPlans

BINS = 20
TOP_K = 10
#: Up to this many (estimated) distinct values, every value is counted exactly.
EXACT_LIMIT = 1000
QUARTILES = (0.25, 0.5, 0.75)
#: Columns per statistics query on warehouse tables.
STATISTICS_COLUMNS = 5
#: The note of a column profiled on its masked values.
MASKED_NOTE = "personal data: profiled on masked values"

_INTEGERS = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
    }
)
_FLOATS = frozenset({"FLOAT", "DOUBLE", "REAL"})
_TIMESTAMPS = frozenset(
    {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"}
)
_TEXT = frozenset({"VARCHAR", "UUID"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def kind_of(column_type: str) -> ColumnKind:
    upper = column_type.upper()
    if upper in _INTEGERS or upper in _FLOATS or upper.startswith("DECIMAL"):
        return "numeric"
    if upper == "DATE" or upper in _TIMESTAMPS:
        return "temporal"
    if upper == "BOOLEAN":
        return "boolean"
    if upper in _TEXT or upper.startswith("ENUM"):
        return "text"
    return "other"


@dataclass
class _Column:
    """A column on its way through the two queries."""

    index: int
    name: str
    type: str
    kind: ColumnKind
    stats: dict[str, Any] = field(default_factory=dict)
    exact: bool = False
    # Bounds of the bins, in value space (see value_sql).
    low: float | None = None
    high: float | None = None

    @property
    def upper(self) -> str:
        return self.type.upper()

    @property
    def is_integer(self) -> bool:
        return self.upper in _INTEGERS

    @property
    def is_float(self) -> bool:
        return self.upper in _FLOATS

    @property
    def sql(self) -> str:
        return ident(self.name)

    @property
    def value_sql(self) -> str:
        """The column as a number: days since 1970 for dates, microseconds for timestamps."""
        if self.upper == "DATE":
            return f"({self.sql} - DATE '1970-01-01')"
        if self.kind == "temporal":
            return f"epoch_us({self.sql})"
        return f"CAST({self.sql} AS DOUBLE)"

    @property
    def finite(self) -> str:
        """A FILTER clause that leaves NaN and infinities out (floats only)."""
        return f" FILTER (WHERE isfinite({self.sql}))" if self.is_float else ""

    def shown(self, value: Any) -> Any:
        """A value-space number as users see it: ISO text for times."""
        if value is None or self.kind != "temporal":
            return value
        if self.upper == "DATE":
            return (_EPOCH + timedelta(days=math.floor(float(value)))).date().isoformat()
        moment = _EPOCH + timedelta(microseconds=round(float(value)))
        return (
            moment.isoformat()
            if "TIME ZONE" in self.upper
            else moment.replace(tzinfo=None).isoformat()
        )

    def edge(self, value: float) -> Any:
        """A bin bound: ints stay ints for integer columns, times become ISO text."""
        if self.kind == "temporal":
            return self.shown(value)
        return int(value) if self.is_integer and float(value).is_integer() else value


class Profiler:
    """Profiles of warehouse tables (now or at a version) and of source tables."""

    def __init__(
        self, warehouse: Warehouse, sources: Sources, masking: MaskingPlans | None = None
    ) -> None:
        self.warehouse = warehouse
        self.sources = sources
        self.masking = masking

    def profile(
        self,
        name: str,
        *,
        version: int | None = None,
        principal: Principal | None = None,
        remote: bool = True,
    ) -> Profile:
        """The profile of table ``name`` (at ``version``) as ``principal`` may see it: masked
        columns on their masked values unless a grant lets them read raw values (an export
        grant too when ``remote``: the profile leaves the server)."""
        ref = parse_table_name(name, self.sources.names().__contains__)
        if version is not None and (isinstance(version, bool) or version < 0):
            raise InvalidInput(f"version must be a snapshot number (0 or more), got {version!r}")
        if ref.source is not None and version is not None:
            raise InvalidInput(f"{ref.name} is a source table: only warehouse tables have versions")
        table_sql = ref.sql(self.warehouse.alias, version=version)
        plan = self.masking.plan(principal, remote=remote) if self.masking else None
        with self._connect(ref) as connection:
            described = _run(connection, f"DESCRIBE SELECT * FROM {table_sql}", ref, version)
            table_sql, masked = masked_read(
                plan, ref.name, table_sql, [(str(row[0]), str(row[1])) for row in described]
            )
            if masked and plan is not None:
                plan.prepare(connection)
                described = _run(connection, f"DESCRIBE SELECT * FROM {table_sql}", ref, version)
            columns = [
                _Column(i, str(row[0]), str(row[1]), kind_of(str(row[1])))
                for i, row in enumerate(described)
            ]
            # Warehouse tables are columnar: a few narrow scans beat one wide one (about 2x
            # on 10M rows x 20 columns). A source is scanned once: each scan of a database
            # table reads all of it on the server.
            size = STATISTICS_COLUMNS if ref.source is None else max(1, len(columns))
            rows = 0
            for start in range(0, max(1, len(columns)), size):
                stats = [
                    (c, k, sql) for c in columns[start : start + size] for k, sql in _statistics(c)
                ]
                select = ", ".join(["count(*)", *(sql for _, _, sql in stats)])
                first = _run(connection, f"SELECT {select} FROM {table_sql}", ref, version)[0]
                rows = int(first[0])
                for (column, key, _), value in zip(stats, first[1:], strict=True):
                    column.stats[key] = value
            for column in columns:
                _plan(column)
            extra = [(c, sql) for c in columns if (sql := _distribution(c)) is not None]
            result: tuple[Any, ...] = ()
            if extra:
                select = ", ".join(sql for _, sql in extra)
                result = _run(connection, f"SELECT {select} FROM {table_sql}", ref, version)[0]
        found = {column.index: value for (column, _), value in zip(extra, result, strict=True)}
        profiles = tuple(
            _finish(c, rows, found.get(c.index), c.name.lower() in masked) for c in columns
        )
        RawReadAudit(self.sources.db, self.sources.audit).record(
            plan, principal, read="profile", rows=rows, remote=remote
        )
        return Profile(ref.name, version, rows, profiles)

    @contextmanager
    def _connect(self, ref: TableRef) -> Iterator[duckdb.DuckDBPyConnection]:
        if ref.source is None:
            with self.warehouse.connect() as connection:
                yield connection
            return
        with self.sources.connect([ref.source]) as (connection, errors):
            if errors:
                raise SourceError(errors[ref.source])
            yield connection


def _run(
    connection: duckdb.DuckDBPyConnection, sql: str, ref: TableRef, version: int | None
) -> list[tuple[Any, ...]]:
    import duckdb

    failure: Exception | None = None
    try:
        return connection.execute(sql).fetchall()
    except duckdb.CatalogException:
        failure = NotFound(f"no table {ref.name} (see `atelier data list`)")
    except duckdb.Error as error:
        message = str(error).split("\n", 1)[0]
        at = f" at version {version}" if version is not None else ""
        failure = InvalidInput(f"cannot profile {ref.name}{at}: {message}")
    assert failure is not None
    raise failure


def _statistics(c: _Column) -> list[tuple[str, str]]:
    """The first query's aggregates for column ``c``, by name."""
    result = [("count", f"count({c.sql})")]
    if c.kind == "other":
        return result
    quartiles = f"[{', '.join(str(q) for q in QUARTILES)}]"
    value = c.value_sql if c.kind == "temporal" else c.sql
    result += [
        ("min", f"min({value}){c.finite}"),
        ("max", f"max({value}){c.finite}"),
        ("distinct", f"approx_count_distinct({c.sql}){c.finite}"),
    ]
    if c.kind in ("numeric", "temporal"):
        result += [
            ("mean", f"avg({value}){c.finite}"),
            ("quartiles", f"approx_quantile({c.value_sql}, {quartiles}){c.finite}"),
        ]
    if c.kind == "numeric":
        result.append(("std", f"stddev_samp({c.sql}){c.finite}"))
    if c.is_float:
        result.append(("nonfinite", f"count(*) FILTER (WHERE NOT isfinite({c.sql}))"))
    return result


def _plan(c: _Column) -> None:
    """Exact counts or bins; the bins' bounds in value space."""
    if c.kind == "other":
        return
    c.exact = int(c.stats.get("distinct") or 0) <= EXACT_LIMIT
    if c.kind in ("numeric", "temporal") and c.stats.get("min") is not None:
        low, high = float(c.stats["min"]), float(c.stats["max"])
        if math.isfinite(low) and math.isfinite(high):
            c.low, c.high = low, high


def _distribution(c: _Column) -> str | None:
    """The second query's aggregate for column ``c``."""
    if c.kind == "other":
        return None
    if c.exact:
        value = c.value_sql if c.kind == "temporal" else c.sql
        return f"histogram({value}){c.finite}"
    if c.kind in ("numeric", "temporal") and c.low is not None and c.high is not None:
        width = (c.high - c.low) / BINS
        if width <= 0:
            return f"count({c.sql}){c.finite}"
        bucket = f"floor(({c.value_sql} - {c.low!r}) / {width!r})"
        return f"histogram(least(greatest({bucket}, 0), {BINS - 1})::INTEGER){c.finite}"
    if c.kind == "text":
        return f"approx_top_k({c.sql}, {TOP_K})"
    return None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _finish(c: _Column, rows: int, found: Any, masked: bool = False) -> ColumnProfile:
    s = c.stats
    count = int(s.get("count") or 0)
    distinct = None if c.kind == "other" else min(int(s.get("distinct") or 0), count)
    quartiles = list(s.get("quartiles") or [None] * len(QUARTILES))
    top: tuple[tuple[Any, int | None], ...] = ()
    bins: tuple[Bin, ...] = ()
    if c.exact and isinstance(found, dict):
        distinct = len(found)
        ordered = sorted(found.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
        top = tuple((c.shown(value), int(n)) for value, n in ordered[:TOP_K])
        if c.kind in ("numeric", "temporal") and found:
            counts = {float(k): int(v) for k, v in found.items()}
            bins = _bins_from_values(c, counts)
            quartiles = _exact_quartiles(counts)
    elif isinstance(found, dict) and c.low is not None and c.high is not None:
        bins = _bins_from_buckets(c, {int(k): int(v) for k, v in found.items()})
    elif isinstance(found, int) and not isinstance(found, bool) and c.low is not None:
        bins = (Bin(c.edge(c.low), c.edge(c.low), found),)
    elif isinstance(found, list):
        top = tuple((value, None) for value in found)
    nonfinite = int(s.get("nonfinite") or 0)
    notes = [MASKED_NOTE] if masked else []
    if nonfinite:
        notes.append(f"{nonfinite:,} NaN or infinite values are left out of the statistics")
    numeric, temporal = c.kind == "numeric", c.kind == "temporal"
    return ColumnProfile(
        name=c.name,
        type=c.type,
        kind=c.kind,
        count=count,
        nulls=rows - count,
        distinct=distinct,
        distinct_exact=c.exact,
        min=c.shown(_plain(s.get("min"))),
        max=c.shown(_plain(s.get("max"))),
        mean=_number(s.get("mean")) if numeric else c.shown(s.get("mean")) if temporal else None,
        std=_number(s.get("std")),
        q25=_quartile(c, quartiles[0]),
        q50=_quartile(c, quartiles[1]),
        q75=_quartile(c, quartiles[2]),
        top_values=top,
        histogram=bins,
        note="; ".join(notes) or None,
    )


def _plain(value: Any) -> Any:
    """Decimals as floats; everything else as DuckDB gave it."""
    from decimal import Decimal

    return float(value) if isinstance(value, Decimal) else value


def _quartile(c: _Column, value: Any) -> Any:
    if value is None or c.kind not in ("numeric", "temporal"):
        return None
    return c.shown(value) if c.kind == "temporal" else c.edge(float(value))


def _exact_quartiles(counts: dict[float, int]) -> list[float]:
    """Quartiles as ``quantile_disc`` computes them: the value at index floor((n - 1) * q)."""
    total = sum(counts.values())
    result = []
    for q in QUARTILES:
        target, seen = math.floor((total - 1) * q), 0
        for value in sorted(counts):
            seen += counts[value]
            if seen > target:
                result.append(value)
                break
    return result


def _bins_from_values(c: _Column, counts: dict[float, int]) -> tuple[Bin, ...]:
    low, high = min(counts), max(counts)
    integral = c.is_integer or c.upper == "DATE"
    if integral and high - low + 1 <= BINS:
        # One bin per value: [v, v + 1).
        return tuple(
            Bin(c.edge(v), c.edge(v + 1), counts.get(v, 0))
            for v in (low + i for i in range(int(high - low) + 1))
        )
    if high == low:
        return (Bin(c.edge(low), c.edge(high), sum(counts.values())),)
    width = (high - low) / BINS
    buckets: dict[int, int] = {}
    for value, n in counts.items():
        index = min(max(math.floor((value - low) / width), 0), BINS - 1)
        buckets[index] = buckets.get(index, 0) + n
    c.low, c.high = low, high
    return _bins_from_buckets(c, buckets)


def _bins_from_buckets(c: _Column, buckets: dict[int, int]) -> tuple[Bin, ...]:
    assert c.low is not None and c.high is not None
    width = (c.high - c.low) / BINS
    return tuple(
        Bin(
            c.edge(c.low + i * width),
            c.edge(c.high if i == BINS - 1 else c.low + (i + 1) * width),
            buckets.get(i, 0),
        )
        for i in range(BINS)
    )
