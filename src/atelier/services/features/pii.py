"""Which features hold personal data: a feature computed from a tagged column inherits its tag.

The tags are the catalog's (:mod:`atelier.services.catalog.pii`): ``table -> column -> kind``.
A view's features are traced to the columns of the tables it reads without running anything:

* a source-table view: a column feature is the column; a SQL feature references the columns
  its expression names (parsed by DuckDB, ``json_serialize_sql``); a Python feature its
  ``inputs``; an aggregation the column (or row feature) it aggregates;
* a query view: the query's output columns are traced through its aliases, CTEs, subqueries,
  ``SELECT *`` (with ``RENAME``/``REPLACE``) and set operations. A whole-row reference
  (``to_json(c)``, ``struct_pack(*)``, ``row(t.*)``) takes every tagged column of the query,
  and a query that cannot be parsed makes every feature take them all.

It is conservative: an expression that references a tagged column anywhere (``lower(email)``,
``concat(first_name, ' ', last_name)``, ``count(email)``) gives the feature that column's kind.
Several kinds give the strictest, in the order of :data:`STRICTNESS` (the kinds whose default
rule hides the whole value first, those that keep a part of it last), so that a mask never
shows more of a mixed value than the strictest source allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atelier.backends.metadata import Database
from atelier.backends.metadata.models import ColumnTag, PersonalTable
from atelier.services.features.definitions import FeatureView
from atelier.services.features.upstream import serialize, upstream_tables

if TYPE_CHECKING:
    import pyarrow as pa

    from atelier.backends.warehouse.masking import Expression, Masking
    from atelier.services.pii.policies import Masker

#: Kinds from the strictest to the least strict (by what their default rule lets through):
#: redacted, pseudonymised, generalised, then the partial rules that keep the last digits.
STRICTNESS: tuple[str, ...] = (
    "national_id",
    "free_text_with_pii",
    "person_name",
    "email",
    "date_of_birth",
    "postal_address",
    "ip_address",
    "phone",
    "payment_card",
    "iban",
)
#: Functions without arguments that read no column (others without arguments, such as
#: ``struct_pack(*)`` whose star the parser drops, are taken as reading the whole row).
_NULLARY = frozenset(
    {
        "count_star",
        "now",
        "current_timestamp",
        "current_date",
        "current_time",
        "get_current_timestamp",
        "random",
        "gen_random_uuid",
        "uuid",
        "pi",
    }
)

#: In a table's tags, the entry for the untagged columns of a table marked personal as a
#: whole, and their kind (none of :class:`~atelier.services.pii.PiiKind`: masked as the
#: strictest, see :func:`known_kind`).
EVERY_COLUMN = "*"
PERSONAL = "personal"

#: ``(table.column, kind)`` pairs: where a value came from.
Provenance = frozenset[tuple[str, str]]
Tags = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class FeaturePii:
    """A feature's personal data: its kind and the tagged columns (``table.column``, kind)
    it is computed from."""

    kind: str
    origins: tuple[tuple[str, str], ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.origins)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "from": list(self.sources)}


@dataclass(frozen=True)
class Reader:
    """What one reader may see of values computed from tagged columns, outside SQL (online
    lookups): the workspace's rules, and the tables (``schema.table``) and kinds they may
    read raw now."""

    masker: Masker
    tables: frozenset[str]
    kinds: frozenset[str]

    def raw(self, pii: FeaturePii) -> bool:
        """Whether every tagged column behind the value is open to the reader."""
        return all(
            column.rsplit(".", 1)[0] in self.tables or kind in self.kinds
            for column, kind in pii.origins
        )

    def show(self, pii: FeaturePii, array: pa.Array | pa.ChunkedArray) -> Any:
        """``array`` as the reader may see it: raw, or masked by the rule of its kind."""
        if self.raw(pii):
            return array
        return self.masker.mask_arrow(known_kind(pii.kind), array)


def closed_masker() -> Masker:
    """The rules when no masking policy is set up: every kind redacted (no key needed)."""
    from atelier.services.pii.kinds import PiiKind
    from atelier.services.pii.policies import Masker, Rule

    return Masker({kind: Rule("redact") for kind in PiiKind}, b"")


def closed_plan(tags: Tags) -> Masking:
    """The SQL masking plan when no masking policy is set up: every tagged column redacted."""
    from atelier.backends.warehouse.masking import Masking

    masker = closed_masker()

    def expression(kind: str) -> Expression:
        return lambda column, sql_type: masker.sql(known_kind(kind), column, sql_type)

    masked = {
        table.lower(): {
            column.lower(): expression(kind)
            for column, kind in columns.items()
            if column != EVERY_COLUMN
        }
        for table, columns in tags.items()
    }
    whole = {table for table, columns in tags.items() if EVERY_COLUMN in columns}
    if whole and "personal" in {f.name for f in dataclasses.fields(Masking)}:
        # A table marked personal as a whole: its other columns redacted too.
        default = expression(PERSONAL)
        personal = {table.lower(): default for table in whole}
        return Masking({t: c for t, c in masked.items() if c}, personal=personal)  # type: ignore[call-arg, unused-ignore]
    return Masking({t: c for t, c in masked.items() if c})


def known_kind(kind: str) -> str:
    """``kind`` if it is one of :class:`~atelier.services.pii.PiiKind`, else
    ``free_text_with_pii`` (personal data of no one kind: redacted by default)."""
    from atelier.services.pii.kinds import PiiKind

    return kind if kind in {k.value for k in PiiKind} else PiiKind.FREE_TEXT_WITH_PII.value


def strictest(kinds: Iterable[str]) -> str:
    """The strictest of ``kinds`` (an unknown kind counts as the strictest of all)."""
    ranked = sorted(set(kinds), key=lambda k: (STRICTNESS.index(k) if k in STRICTNESS else -1, k))
    if not ranked:
        raise ValueError("no kinds")
    return ranked[0]


def live_tags(db: Database, tables: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """``table -> column -> kind`` of every live tag (suggested or confirmed; names in lower
    case), of ``tables`` only when given. A table marked personal as a whole has the entry
    :data:`EVERY_COLUMN` -> :data:`PERSONAL` for its columns without a tag."""
    with db.session() as session:
        return session_tags(session, tables)


def session_tags(session: Session, tables: Iterable[str] | None) -> dict[str, dict[str, str]]:
    """:func:`live_tags` read in the caller's ``session``."""
    wanted = None if tables is None else {t.lower() for t in tables}
    query = select(ColumnTag.table_name, ColumnTag.column_name, ColumnTag.kind).where(
        ColumnTag.state != "removed"
    )
    if wanted is not None:
        query = query.where(func.lower(ColumnTag.table_name).in_(sorted(wanted)))
    rows = session.execute(query).all()
    found: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        key = str(table).lower()
        if wanted is None or key in wanted:
            found.setdefault(key, {})[str(column).lower()] = str(kind)
    for table in session.scalars(select(PersonalTable.table_name)).all():
        key = str(table).lower()
        if wanted is None or key in wanted:
            found.setdefault(key, {})[EVERY_COLUMN] = PERSONAL
    return found


def table_key(name: str) -> str:
    """A table name as tags hold it: ``schema.table`` (``main`` for a bare name), lower case."""
    return (name if "." in name else f"main.{name}").lower()


def source_columns(view: FeatureView, tags: Tags) -> dict[str, Provenance]:
    """Column (lower case) of the view's source -> the tagged columns its values come from."""
    tables = [table_key(t) for t in upstream_tables(view)]
    every: dict[str, set[tuple[str, str]]] = {}
    marked: set[tuple[str, str]] = set()
    for table in tables:
        for column, kind in (tags.get(table) or {}).items():
            if column == EVERY_COLUMN:
                marked.add((f"{table}.{EVERY_COLUMN}", kind))
            else:
                every.setdefault(column, set()).add((f"{table}.{column}", kind))
    known: dict[str, Provenance] = {c: frozenset(p) for c, p in every.items()}
    if view.source is None and every:
        known = _trace_query(str(view.query), known)
    if marked:
        # Any other column may be one of a personal table's: personal data too.
        return _Defaulted(known, frozenset(marked))
    return known


def feature_pii(view: FeatureView, tags: Tags) -> dict[str, FeaturePii]:
    """Feature name -> its personal data, for the features of ``view`` computed from tagged
    columns (the others are not in the result)."""
    columns = source_columns(view, tags)
    if not columns:
        return {}
    everything: Provenance = frozenset().union(*columns.values())
    # What names a whole source row in a SQL feature (``to_json(customers)``).
    relations = {"unnamed_subquery"}
    if view.source is not None:
        relations.add(view.source.rsplit(".", 1)[-1].lower())
    found: dict[str, Provenance] = {}
    for feature in view.row_features():
        if feature.is_column:
            found[feature.name] = columns.get(feature.name.lower(), frozenset())
        elif feature.sql is not None:
            found[feature.name] = _expression(feature.sql, columns, everything, relations)
        else:
            found[feature.name] = frozenset().union(
                *(columns.get(c.lower(), frozenset()) for c in feature.inputs)
            )
    derived = {f.name: found.get(f.name, frozenset()) for f in view.row_features()}
    for name, aggregation, _function, _window in view.aggregate_features():
        column = aggregation.column
        if column == "*":
            continue
        found[name] = derived.get(column) or columns.get(column.lower(), frozenset())
    return {name: _pii(p) for name, p in found.items() if p}


def _pii(provenance: Provenance) -> FeaturePii:
    return FeaturePii(known_kind(strictest(k for _, k in provenance)), tuple(sorted(provenance)))


def kinds_of(found: Mapping[str, FeaturePii]) -> dict[str, str]:
    return {name: pii.kind for name, pii in found.items()}


# -- parse trees -------------------------------------------------------------------------


def _parse(sql: str) -> dict[str, Any] | None:
    """The parse tree of one statement (None: not one DuckDB can serialize)."""
    tree = serialize(sql)
    if tree.get("error") or len(tree.get("statements") or []) != 1:
        return None
    node: dict[str, Any] = tree["statements"][0]["node"]
    return node


def _expression(
    sql: str, columns: Mapping[str, Provenance], everything: Provenance, relations: set[str]
) -> Provenance:
    """The tagged columns a SQL expression over the source row references."""
    node = _parse(f"SELECT ({sql})")
    if node is None:
        return everything
    return _refs(node.get("select_list"), columns, everything, relations)


def _refs(
    node: Any, names: Mapping[str, Provenance], everything: Provenance, relations: set[str]
) -> Provenance:
    """The provenance of everything an expression (or any subtree) references."""
    found: set[tuple[str, str]] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("class")
        if kind == "COLUMN_REF":
            parts = [str(p).lower() for p in item.get("column_names") or []]
            if len(parts) == 1 and parts[0] in relations and parts[0] not in names:
                return everything  # a whole row: to_json(c), list(t)
            if parts:
                found |= names.get(parts[-1], frozenset())
        elif kind == "STAR":
            return everything  # COLUMNS(*) or * inside an expression
        elif (
            kind == "FUNCTION"
            and not item.get("children")
            and str(item.get("function_name", "")).lower() not in _NULLARY
        ):
            return everything  # struct_pack(*), row(t.*): the parser drops the star
        stack.extend(item.values())
    return frozenset(found)


def _nodes(node: Any) -> Iterable[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            yield item
            stack.extend(item.values())


def _relations(tree: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for node in _nodes(tree):
        if node.get("type") in ("BASE_TABLE", "SUBQUERY", "TABLE_FUNCTION") and "alias" in node:
            if node.get("alias"):
                names.add(str(node["alias"]).lower())
            if node.get("table_name"):
                names.add(str(node["table_name"]).lower())
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map") or ():
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    names.add(entry["key"].lower())
    return names


def _output_name(item: dict[str, Any]) -> str | None:
    if item.get("alias"):
        return str(item["alias"]).lower()
    if item.get("class") == "COLUMN_REF" and item.get("column_names"):
        return str(item["column_names"][-1]).lower()
    return None


def _trace_query(sql: str, tagged: Mapping[str, Provenance]) -> dict[str, Provenance]:
    """The tagged columns behind each name the query's rows can have: the tagged names
    themselves, and every alias (in any part of the query) of an expression over them, until
    nothing more is found."""
    everything: Provenance = frozenset().union(*tagged.values())
    tree = _parse(sql)
    if tree is None:
        return _opaque(everything)
    relations = _relations(tree)
    names: dict[str, Provenance] = dict(tagged)
    selects = [n for n in _nodes(tree) if n.get("type") == "SELECT_NODE"]
    operations = [n for n in _nodes(tree) if n.get("type") == "SET_OPERATION_NODE"]
    changed = True
    while changed:
        changed = False

        def add(name: str | None, provenance: Provenance) -> None:
            nonlocal changed
            if name is None or not provenance:
                return
            before = names.get(name, frozenset())
            if not provenance <= before:
                names[name] = before | provenance
                changed = True

        for node in selects:
            for item in node.get("select_list") or []:
                if not isinstance(item, dict):
                    continue
                if item.get("class") == "STAR" and not item.get("expr"):
                    for entry in item.get("rename_list") or []:
                        old = str((entry.get("key") or {}).get("column", "")).lower()
                        add(str(entry.get("value", "")).lower(), names.get(old, frozenset()))
                    for entry in item.get("replace_list") or []:
                        provenance = _refs(entry.get("value"), names, everything, relations)
                        add(str(entry.get("key", "")).lower(), provenance)
                    continue
                add(_output_name(item), _refs(item, names, everything, relations))
        for node in operations:
            left, right = _select_list(node.get("left")), _select_list(node.get("right"))
            if left is None or right is None or len(left) != len(right):
                return _opaque(everything)
            for mine, other in zip(left, right, strict=True):
                provenance = _refs(mine, names, everything, relations) | _refs(
                    other, names, everything, relations
                )
                add(_output_name(mine), provenance)
    return names


def _select_list(node: Any) -> list[dict[str, Any]] | None:
    """The select list of a plain SELECT (None: a nested set operation or a star)."""
    if not isinstance(node, dict) or node.get("type") != "SELECT_NODE":
        return None
    items = [i for i in node.get("select_list") or [] if isinstance(i, dict)]
    if any(i.get("class") == "STAR" for i in items):
        return None
    return items


class _Defaulted(dict[str, Provenance]):
    """Names traced to tagged columns, and ``default`` for every other name (a column that
    may come from a table marked personal as a whole, or from a query not traced)."""

    def __init__(self, known: Mapping[str, Provenance], default: Provenance) -> None:
        super().__init__(known)
        self.default = default

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key) or self.default

    def __bool__(self) -> bool:
        return bool(self.default) or any(super().values())

    def values(self) -> Any:
        return [*super().values(), self.default]


def _opaque(everything: Provenance) -> dict[str, Provenance]:
    """A query that could not be traced: every name may hold every tagged column."""
    return _Defaulted({}, everything)
