"""What the catalog, the portal and ``atelier features show`` say about a view: its
definition, versions, lineage (source tables upstream; training sets and feature services
downstream), freshness, statistics and materializations."""

from __future__ import annotations

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
from atelier.services.features.pii import feature_pii, session_tags, table_key
from atelier.services.features.upstream import upstream_tables

__all__ = ["ViewInfo", "describe_features", "upstream_tables", "view_info"]


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

    def personal_data(self) -> dict[str, str]:
        """Feature -> kind of the features computed from columns tagged as personal data."""
        return {f["name"]: f["pii"]["kind"] for f in self.features if f.get("pii")}

    def catalog_entry(self) -> TableEntry:
        """The view as a line of the data catalog, beside the tables it reads; a view with
        features computed from personal data says so in its tags (``personal data``,
        ``pii:KIND``)."""
        types = {name: f["type"] for name, f in (self.stats or {}).get("features", {}).items()}
        kinds = sorted(set(self.personal_data().values()))
        personal = ("personal data", *(f"pii:{kind}" for kind in kinds)) if kinds else ()
        return TableEntry(
            name=self.name,
            kind="feature view",
            rows=(self.stats or {}).get("rows"),
            size_bytes=None,
            owner=self.owner,
            description=self.description,
            tags=(*self.tags, *personal),
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


def view_info(session: Session, row: FeatureViewRecord, *, detail: bool) -> ViewInfo:
    view = FeatureView.from_spec(row.spec)
    upstream = upstream_tables(view)
    tags = session_tags(session, [table_key(t) for t in upstream])
    personal = feature_pii(view, tags) if tags else {}
    features = describe_features(view)
    for feature in features:
        found = personal.get(feature["name"])
        feature["pii"] = found.as_dict() if found else None
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
        features=features,
        owner=row.owner,
        description=row.description,
        tags=list(row.tags),
        shared=row.shared,
        updated_at=row.updated_at,
        upstream=upstream,
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
