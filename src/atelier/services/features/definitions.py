"""What a feature store holds: entities, feature views (row features, derived features,
windowed aggregations) and feature services, as plain validated values.

Every definition turns into a JSON-safe ``spec`` (what is stored and versioned in metadata) and
back; a view's ``fingerprint`` is the hash of its spec, so an unchanged view is not versioned
again. Durations are given as ``timedelta``, whole seconds, or text such as ``"90d"``,
``"12h"``, ``"30m"``, ``"45s"``, ``"1500ms"``, ``"10ns"``; they are kept in nanoseconds.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from atelier.errors import InvalidInput

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: A view's source table: ``table``, ``schema.table`` (the warehouse) or
#: ``source.schema.table`` (an attached source, whose file tables may have any name).
SOURCE_TABLE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?|[A-Za-z_]\w*\.[A-Za-z_]\w*\.[^\"]+")
#: Aggregate functions a windowed aggregation may use.
FUNCTIONS = ("count", "sum", "avg", "min", "max", "stddev", "last")
_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_UNITS |= {"d": 86_400 * 10**9, "w": 7 * 86_400 * 10**9}
_DURATION = re.compile(r"\s*(\d+)\s*(ns|us|ms|s|m|h|d|w)\s*")

Duration = timedelta | int | str


def check_name(name: object, what: str) -> str:
    """``name`` if it is a valid identifier (letters, digits, underscores; 63 at most)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} {name!r} is not a valid name: use letters, digits and underscores, "
            "starting with a letter or underscore (63 characters at most)"
        )
    return name


def check_project(name: object) -> str:
    """``name`` if it may label feature definitions: an Atelier project's name (``churn-sam``:
    lower-case letters, digits, '-' and '_') or an identifier, as feature projects were named
    before projects existed. The project is a label kept in metadata, never a SQL name, so the
    names a project accepted at creation work here unchanged."""
    from atelier.services.projects.model import NAME as PROJECT_NAME

    if isinstance(name, str) and (NAME.fullmatch(name) or PROJECT_NAME.fullmatch(name)):
        return name
    raise InvalidInput(
        f"project {name!r} is not a valid name: use a project's name (lower-case letters, "
        "digits, '-' and '_', e.g. churn-sam) or letters, digits and underscores "
        "(63 characters at most)"
    )


def duration_ns(value: Duration | None, what: str) -> int | None:
    """A duration in nanoseconds; None (or 0) stays None: no limit."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        ns = (value.days * 86_400 + value.seconds) * 10**9 + value.microseconds * 1000
    elif isinstance(value, bool):
        raise InvalidInput(f"{what}: {value!r} is not a duration")
    elif isinstance(value, int):
        ns = value * 10**9
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.lower())
        if match is None:
            raise InvalidInput(
                f"{what}: {value!r} is not a duration; write e.g. '90d', '12h', '30m' or '45s'"
            )
        ns = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise InvalidInput(f"{what}: {value!r} is not a duration")
    if ns < 0:
        raise InvalidInput(f"{what}: a duration cannot be negative")
    return ns or None


def format_duration(ns: int | None) -> str:
    """The shortest exact text for ``ns`` (``"7d"``, ``"36h"``, ``"1500ms"``); ``""`` for none."""
    if not ns:
        return ""
    # Days rather than weeks: "amount_sum_14d" reads better than "amount_sum_2w".
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if unit == "w":
            continue
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"  # pragma: no cover - "ns" always divides


@dataclass(frozen=True)
class Entity:
    """What features describe (a customer, an account), identified by one or more key columns."""

    name: str
    keys: Sequence[str]
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "entity")
        keys = [self.keys] if isinstance(self.keys, str) else list(self.keys)
        if not keys:
            raise InvalidInput(f"entity {self.name!r} needs at least one key column")
        for key in keys:
            check_name(key, f"key column of entity {self.name!r}")
        if len(set(keys)) != len(keys):
            raise InvalidInput(f"entity {self.name!r} names a key column twice")
        object.__setattr__(self, "keys", tuple(keys))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "keys": list(self.keys), "description": self.description}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Entity:
        return cls(spec["name"], spec["keys"], spec.get("description", ""))


@dataclass(frozen=True)
class Derived:
    """A row-level feature: the source column ``name`` itself (neither ``sql`` nor
    ``python``), a SQL expression over the row's columns (``sql="amount / nullif(balance, 0)"``)
    or a small self-contained Python function called once per row with the ``inputs`` columns
    (it must import what it needs inside its body) returning ``dtype``."""

    name: str
    sql: str | None = None
    python: Callable[..., Any] | str | None = None
    inputs: Sequence[str] = ()
    dtype: str = "DOUBLE"
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "feature")
        if self.sql is not None and self.python is not None:
            raise InvalidInput(f"derived feature {self.name!r}: give sql= or python=, not both")
        if self.sql is not None and not self.sql.strip():
            raise InvalidInput(f"derived feature {self.name!r}: the SQL expression is empty")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if self.python is not None:
            if not self.inputs:
                raise InvalidInput(f"Python feature {self.name!r} needs inputs=[column, ...]")
            if callable(self.python):
                object.__setattr__(self, "python", function_source(self.python, self.name))
            python_function(str(self.python), self.name)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_ (),]*", self.dtype):
            raise InvalidInput(f"derived feature {self.name!r}: {self.dtype!r} is not a type")

    @property
    def is_column(self) -> bool:
        return self.sql is None and self.python is None

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name}
        if self.sql is not None:
            spec["sql"] = self.sql
        elif self.python is not None:
            spec["python"] = self.python
            spec["inputs"] = list(self.inputs)
            spec["dtype"] = self.dtype
        if self.description:
            spec["description"] = self.description
        return spec


def function_source(fn: Callable[..., Any], feature: str) -> str:
    """The source of a named function (lambdas are refused: their source is not their own)."""
    if getattr(fn, "__name__", "<lambda>") == "<lambda>":
        raise InvalidInput(f"Python feature {feature!r}: use a named function (def), not lambda")
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as error:
        raise InvalidInput(f"Python feature {feature!r}: its source is unavailable") from error


def python_function(source: str, feature: str) -> Callable[..., Any]:
    """Compile stored function source; the last function it defines is the feature's."""
    namespace: dict[str, Any] = {}
    try:
        exec(compile(source, f"<feature {feature}>", "exec"), namespace)
    except Exception as error:
        raise InvalidInput(f"Python feature {feature!r} does not compile: {error}") from None
    functions = [v for v in namespace.values() if inspect.isfunction(v)]
    if not functions:
        raise InvalidInput(f"Python feature {feature!r}: the source defines no function")
    return functions[-1]


@dataclass(frozen=True)
class Aggregation:
    """Windowed aggregations of ``column`` per entity, as of each event time: for every
    function and window a feature ``{column}_{function}_{window}`` (e.g. ``amount_avg_30d``)
    over the rows whose time is in ``(event time - window, event time]``. ``column="*"``
    counts rows."""

    column: str
    functions: Sequence[str]
    windows: Sequence[Duration]
    prefix: str | None = None

    def __post_init__(self) -> None:
        if self.column != "*":
            check_name(self.column, "aggregated column")
        functions = [self.functions] if isinstance(self.functions, str) else list(self.functions)
        windows = [self.windows] if isinstance(self.windows, str | int) else list(self.windows)
        if not functions or not windows:
            raise InvalidInput(f"aggregation of {self.column!r} needs functions and windows")
        for fn in functions:
            if fn not in FUNCTIONS:
                raise InvalidInput(
                    f"aggregation of {self.column!r}: unknown function {fn!r} "
                    f"(use {', '.join(FUNCTIONS)})"
                )
            if self.column == "*" and fn != "count":
                raise InvalidInput("aggregation of '*' can only count rows")
        spans = []
        for window in windows:
            ns = duration_ns(window, f"window of the aggregation of {self.column!r}")
            if ns is None:
                raise InvalidInput(f"aggregation of {self.column!r}: a window cannot be 0")
            spans.append(ns)
        object.__setattr__(self, "functions", tuple(dict.fromkeys(functions)))
        object.__setattr__(self, "windows", tuple(dict.fromkeys(spans)))
        if self.prefix is not None:
            check_name(self.prefix, "aggregation prefix")

    @property
    def spans(self) -> tuple[int, ...]:
        """The windows in nanoseconds."""
        return tuple(int(w) for w in self.windows)  # type: ignore[arg-type]

    def features(self) -> list[tuple[str, str, int]]:
        """``(feature name, function, window ns)`` for each function and window."""
        base = self.prefix or ("rows" if self.column == "*" else self.column)
        return [
            (f"{base}_{fn}_{format_duration(w)}", fn, w)
            for fn in self.functions
            for w in self.spans
        ]

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "column": self.column,
            "functions": list(self.functions),
            "windows": [format_duration(w) for w in self.spans],
        }
        if self.prefix:
            spec["prefix"] = self.prefix
        return spec


#: Feast's and Tecton's word for the same thing.
Window = Aggregation


@dataclass(frozen=True)
class FeatureView:
    """Features of one entity from one source (a warehouse table ``schema.table``, a table of
    an attached source ``source.schema.table``, or a SQL query), each row stamped with
    ``timestamp``; ``created`` breaks ties between rows of the same entity and time (the
    newest wins). A row feature is valid for ``ttl`` after its row's time (None: forever)."""

    name: str
    entity: Entity | str
    timestamp: str
    source: str | None = None
    query: str | None = None
    features: Sequence[str | Derived] = ()
    aggregations: Sequence[Aggregation] = ()
    created: str | None = None
    ttl: Duration | None = None
    owner: str | None = None
    description: str = ""
    tags: Sequence[str] = ()
    shared: bool = True
    #: Filled in from the entity when the view is resolved.
    keys: Sequence[str] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        check_name(self.name, "feature view")
        if (self.source is None) == (self.query is None):
            raise InvalidInput(f"feature view {self.name!r}: give either source= or query=")
        if self.source is not None and not SOURCE_TABLE.fullmatch(self.source):
            raise InvalidInput(
                f"feature view {self.name!r}: source {self.source!r} is not a table name "
                "(schema.table, or source.schema.table for an attached source); use query= "
                "for SQL"
            )
        check_name(self.timestamp, f"timestamp column of view {self.name!r}")
        if self.created is not None:
            check_name(self.created, f"created column of view {self.name!r}")
        ttl = duration_ns(self.ttl, f"ttl of view {self.name!r}")
        object.__setattr__(self, "ttl", ttl)
        rows = [Derived(f) if isinstance(f, str) else f for f in self.features]
        object.__setattr__(self, "features", tuple(rows))
        object.__setattr__(self, "aggregations", tuple(self.aggregations))
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))
        if isinstance(self.entity, Entity):
            object.__setattr__(self, "keys", tuple(self.entity.keys))
            object.__setattr__(self, "entity", self.entity.name)
        else:
            check_name(self.entity, f"entity of view {self.name!r}")
            object.__setattr__(self, "keys", tuple(self.keys))
        names = self.feature_names()
        if not names:
            raise InvalidInput(f"feature view {self.name!r} defines no features")
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InvalidInput(f"feature view {self.name!r} defines feature {name!r} twice")
            seen.add(name)

    @property
    def ttl_ns(self) -> int | None:
        return self.ttl  # type: ignore[return-value]

    def row_features(self) -> tuple[Derived, ...]:
        return tuple(self.features)  # type: ignore[arg-type]

    def aggregate_features(self) -> list[tuple[str, Aggregation, str, int]]:
        return [(n, a, fn, w) for a in self.aggregations for n, fn, w in a.features()]

    def feature_names(self) -> list[str]:
        return [f.name for f in self.row_features()] + [n for n, *_ in self.aggregate_features()]

    def max_window(self) -> int:
        return max((w for *_, w in self.aggregate_features()), default=0)

    def spec(self) -> dict[str, Any]:
        """The JSON-safe definition stored (and versioned) in metadata."""
        return {
            "name": self.name,
            "entity": self.entity,
            "keys": list(self.keys),
            "source": self.source,
            "query": self.query,
            "timestamp": self.timestamp,
            "created": self.created,
            "ttl": format_duration(self.ttl_ns),
            "features": [f.spec() for f in self.row_features()],
            "aggregations": [a.spec() for a in self.aggregations],
            "owner": self.owner,
            "description": self.description,
            "tags": list(self.tags),
            "shared": self.shared,
        }

    def fingerprint(self) -> str:
        """Hash of what changes the values (not owner, description or tags)."""
        spec = self.spec()
        for key in ("owner", "description", "tags", "shared"):
            spec.pop(key)
        text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FeatureView:
        return cls(
            name=spec["name"],
            entity=spec["entity"],
            keys=spec.get("keys", ()),
            source=spec.get("source"),
            query=spec.get("query"),
            timestamp=spec["timestamp"],
            created=spec.get("created"),
            ttl=spec.get("ttl") or None,
            features=[_row_feature(f) for f in spec.get("features", ())],
            aggregations=[_aggregation(a) for a in spec.get("aggregations", ())],
            owner=spec.get("owner"),
            description=spec.get("description", ""),
            tags=spec.get("tags", ()),
            shared=spec.get("shared", True),
        )


@dataclass(frozen=True)
class FeatureService:
    """A named set of features a model looks up (``"view:feature"`` or ``"view:*"``)."""

    name: str
    features: Sequence[str]
    description: str = ""
    owner: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "feature service")
        features = [self.features] if isinstance(self.features, str) else list(self.features)
        if not features:
            raise InvalidInput(f"feature service {self.name!r} names no features")
        object.__setattr__(self, "features", tuple(features))

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": list(self.features),
            "description": self.description,
            "owner": self.owner,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FeatureService:
        return cls(spec["name"], spec["features"], spec.get("description", ""), spec.get("owner"))


def _row_feature(spec: str | dict[str, Any]) -> Derived:
    if isinstance(spec, str):
        return Derived(spec)
    unknown = set(spec) - {"name", "sql", "python", "inputs", "dtype", "description"}
    if unknown or "name" not in spec:
        raise InvalidInput(f"feature {spec.get('name')!r}: unknown fields {sorted(unknown)}")
    return Derived(**spec)


def _aggregation(spec: dict[str, Any]) -> Aggregation:
    unknown = set(spec) - {"column", "functions", "windows", "prefix"}
    if unknown:
        raise InvalidInput(f"aggregation: unknown fields {sorted(unknown)}")
    return Aggregation(
        spec.get("column", "*"), spec["functions"], spec["windows"], spec.get("prefix")
    )


def unique(items: Iterable[Any], what: str) -> None:
    """Refuse two definitions of the same kind with one name."""
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise InvalidInput(f"{what} {item.name!r} is defined twice")
        seen.add(item.name)


@dataclass
class Definitions:
    """What a project's ``features.py`` or YAML file defines."""

    entities: list[Entity] = field(default_factory=list)
    views: list[FeatureView] = field(default_factory=list)
    services: list[FeatureService] = field(default_factory=list)
    project: str | None = None

    def check(self) -> None:
        unique(self.entities, "entity")
        unique(self.views, "feature view")
        unique(self.services, "feature service")
