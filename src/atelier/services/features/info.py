"""What the catalog, the portal and ``atelier features show`` say about a view: its
definition, versions, lineage (source tables upstream; training sets and feature services
downstream), freshness, statistics and materializations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from atelier.backends.metadata import (
    FeatureMaterialization,
    FeatureServiceRecord,
    FeatureViewRecord,
    FeatureViewVersion,
    TrainingSetRecord,
)
from atelier.backends.warehouse import ColumnInfo
from atelier.services.catalog import TableEntry
from atelier.services.features.definitions import FeatureView, format_duration


@dataclass
class ViewInfo:
    name: str
    project: str
    version: int
    entity: str
    keys: list[str]
    source: str | None
    query: str | None
    timestamp: str
    created: str | None
    ttl: str
    features: list[dict[str, Any]]
    owner: str | None
    description: str
    tags: list[str]
    shared: bool
    updated_at: datetime
    upstream: list[str]
    stats: dict[str, Any] | None = None
    stats_at: datetime | None = None
    materialized_at: datetime | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    training_sets: list[dict[str, Any]] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    materializations: list[dict[str, Any]] = field(default_factory=list)

    def haystack(self) -> str:
        words = [self.name, self.project, self.description, *self.tags, self.source or ""]
        words += [f["name"] for f in self.features]
        return " ".join(words).lower()

    def freshness(self) -> dict[str, str | None]:
        """The newest event time (as of the last statistics) and the last materialization."""
        return {
            "last_event": (self.stats or {}).get("last_event"),
            "materialized_at": _iso(self.materialized_at),
        }

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for name in ("updated_at", "stats_at", "materialized_at"):
            data[name] = _iso(data[name])
        data["freshness"] = self.freshness()
        return data

    def catalog_entry(self) -> TableEntry:
        """The view as a line of the data catalog, beside the tables it reads."""
        types = {name: f["type"] for name, f in (self.stats or {}).get("features", {}).items()}
        return TableEntry(
            name=self.name,
            kind="feature view",
            rows=(self.stats or {}).get("rows"),
            size_bytes=None,
            owner=self.owner,
            description=self.description,
            tags=tuple(self.tags),
            columns=tuple(
                ColumnInfo(f["name"], types.get(f["name"], ""), True) for f in self.features
            ),
            upstream=tuple(self.upstream),
            freshness=self.freshness(),
            link=f"/features/{self.name}",
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def describe_features(view: FeatureView) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    for f in view.row_features():
        if f.is_column:
            features.append({"name": f.name, "kind": "column", "definition": f.name})
        elif f.sql is not None:
            features.append({"name": f.name, "kind": "sql", "definition": f.sql})
        else:
            features.append({"name": f.name, "kind": "python", "definition": str(f.python)})
    for name, aggregation, function, window in view.aggregate_features():
        definition = f"{function}({aggregation.column}) over {format_duration(window)}"
        features.append({"name": name, "kind": "aggregation", "definition": definition})
    return features


def upstream_tables(view: FeatureView) -> list[str]:
    """Tables the view reads (those named in its query, for a query source): ``schema.table``
    in the warehouse, ``source.schema.table`` in an attached source."""
    if view.source is not None:
        return [view.source if "." in view.source else f"main.{view.source}"]
    import duckdb

    con = duckdb.connect()
    try:
        row = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [view.query]).fetchone()
    finally:
        con.close()
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                name = f"{node.get('schema_name') or 'main'}.{node['table_name']}"
                if node.get("catalog_name"):
                    name = f"{node['catalog_name']}.{name}"
                if name not in found:
                    found.append(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(row[0]) if row else {})
    return found


def view_info(session: Session, row: FeatureViewRecord, *, detail: bool) -> ViewInfo:
    view = FeatureView.from_spec(row.spec)
    info = ViewInfo(
        name=row.name,
        project=row.project,
        version=row.version,
        entity=str(view.entity),
        keys=list(view.keys),
        source=view.source,
        query=view.query,
        timestamp=view.timestamp,
        created=view.created,
        ttl=format_duration(view.ttl_ns) or "none",
        features=describe_features(view),
        owner=row.owner,
        description=row.description,
        tags=list(row.tags),
        shared=row.shared,
        updated_at=row.updated_at,
        upstream=upstream_tables(view),
        stats=row.stats,
        stats_at=row.stats_at,
        materialized_at=session.scalar(
            select(func.max(FeatureMaterialization.finished_at)).where(
                FeatureMaterialization.view == row.name
            )
        ),
    )
    if not detail:
        return info
    info.versions = [
        {"version": v.version, "created_by": v.created_by, "created_at": v.created_at.isoformat()}
        for v in session.scalars(
            select(FeatureViewVersion)
            .where(FeatureViewVersion.view == row.name)
            .order_by(FeatureViewVersion.version.desc())
        )
    ]
    for record in session.scalars(select(TrainingSetRecord).order_by(TrainingSetRecord.id.desc())):
        if row.name in record.view_versions:
            info.training_sets.append(
                {
                    "name": record.name,
                    "version": record.version,
                    "view_version": record.view_versions[row.name],
                    "rows": record.rows,
                    "created_at": record.created_at.isoformat(),
                }
            )
    for service in session.scalars(select(FeatureServiceRecord)):
        if any(ref.split(":")[0].split("@")[0] == row.name for ref in service.features):
            info.services.append(service.name)
    info.materializations = [
        {
            "mode": m.mode,
            "store": m.store,
            "view_version": m.view_version,
            "entities": m.entities,
            "started_at": m.started_at.isoformat(),
            "finished_at": m.finished_at.isoformat() if m.finished_at else None,
        }
        for m in session.scalars(
            select(FeatureMaterialization)
            .where(FeatureMaterialization.view == row.name)
            .order_by(FeatureMaterialization.id.desc())
            .limit(10)
        )
    ]
    return info
