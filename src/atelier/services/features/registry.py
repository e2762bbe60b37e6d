"""Definitions in metadata: what ``apply`` would change (a diff), and the change itself.

Each project owns the entities, views and services it applies; applying a project's
definitions creates, updates and deletes only its own. A view whose values would change (its
fingerprint) gets a new version, every version kept. A change that would break a dependant —
a saved training set or a feature service that uses a feature the change removes, or a view
whose entity would disappear — is refused with the reason, and nothing is written.

Who may apply as a project (:func:`check_may_apply`, before anything is compared or written):
admins; for a features project that is also an Atelier project, its members; for one that is
not, whoever applied its current views (its first applier, then anyone they work with through
an Atelier project of that name). Everyone else is refused, dry runs included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select

from atelier.backends.metadata import (
    Database,
    FeatureEntity,
    FeatureServiceRecord,
    FeatureViewRecord,
    FeatureViewVersion,
    ProjectMember,
    ProjectRecord,
    TrainingSetRecord,
    User,
)
from atelier.contract.projects import EDITING_ROLES
from atelier.errors import Conflict, InvalidInput, PermissionDenied
from atelier.services.auth import Principal
from atelier.services.features.definitions import (
    Definitions,
    Entity,
    FeatureView,
    check_project,
)

Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class Change:
    kind: Literal["entity", "view", "service"]
    name: str
    action: Action
    details: tuple[str, ...] = ()
    version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "details": list(self.details),
            "version": self.version,
        }

    def line(self) -> str:
        mark = {"create": "+", "update": "~", "delete": "-", "unchanged": " "}[self.action]
        version = f" (version {self.version})" if self.version else ""
        text = f"{mark} {self.kind} {self.name}{version}"
        return text + "".join(f"\n      {d}" for d in self.details)


@dataclass
class ApplyPlan:
    """The diff ``apply`` shows first; ``blocked`` lists why it cannot be applied."""

    project: str
    changes: list[Change]
    blocked: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "changes": [c.as_dict() for c in self.changes],
            "blocked": list(self.blocked),
            "applied": self.applied,
        }

    def text(self) -> str:
        lines = [c.line() for c in self.pending] or ["no changes"]
        lines += [f"refused: {reason}" for reason in self.blocked]
        return "\n".join(lines)


def resolve_keys(definitions: Definitions, db: Database) -> list[FeatureView]:
    """The views with their entity's key columns filled in (entities of this file first, then
    entities already applied by any project)."""
    known = {e.name: tuple(e.keys) for e in definitions.entities}
    with db.session() as session:
        for row in session.scalars(select(FeatureEntity)):
            known.setdefault(row.name, tuple(row.keys))
    views = []
    for view in definitions.views:
        keys = known.get(str(view.entity))
        if keys is None and view.keys:
            # An entity given inline (FeatureView(entity=Entity(...))) is applied with the view.
            definitions.entities.append(Entity(str(view.entity), view.keys))
            keys = known[str(view.entity)] = tuple(view.keys)
        if keys is None:
            raise InvalidInput(
                f"feature view {view.name!r} names entity {view.entity!r}, which is neither "
                "defined here nor applied before"
            )
        spec = view.spec() | {"keys": list(keys)}
        views.append(FeatureView.from_spec(spec))
    return views


def _diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in ("features", "aggregations") and isinstance(before, list):
            olds = {_label(i) for i in before}
            news = {_label(i) for i in after or []}
            parts = [f"+{n}" for n in sorted(news - olds)] + [f"-{o}" for o in sorted(olds - news)]
            lines.append(f"{key}: {', '.join(parts) or 'changed'}")
        else:
            lines.append(f"{key}: {before!r} -> {after!r}")
    return tuple(lines)


def _label(item: Any) -> str:
    if isinstance(item, dict):
        if "name" in item:
            extra = item.get("sql") or ("python" if "python" in item else "")
            return f"{item['name']}{'=' + extra if extra else ''}"
        return f"{item.get('column')}:{'/'.join(item['functions'])}@{'/'.join(item['windows'])}"
    return str(item)


def check_may_apply(db: Database, project: str, principal: Principal) -> None:
    """Refuse ``principal`` applying definitions as ``project`` unless it is theirs to change
    (see the module's docstring); nothing has been read or written for the change yet."""
    if principal.role == "admin":
        return
    if principal.role != "scientist":
        raise PermissionDenied(f"role {principal.role!r} may not apply feature definitions")
    with db.session() as session:
        record = session.scalar(select(ProjectRecord).where(ProjectRecord.name == project))
        if record is not None:
            member = session.scalar(
                select(ProjectMember.id)
                .join(User, User.id == ProjectMember.user_id)
                .where(
                    ProjectMember.project_id == record.id,
                    User.name == principal.name,
                    ProjectMember.role.in_(EDITING_ROLES),
                )
            )
            if member is None:
                raise PermissionDenied(
                    f"{principal.name} is not a member of project {project!r} who edits it: "
                    "only its owners, editors and admins apply feature definitions as it"
                )
            return
        views = select(FeatureViewRecord.name).where(FeatureViewRecord.project == project)
        appliers = {
            name
            for name in session.scalars(
                select(FeatureViewVersion.created_by).where(FeatureViewVersion.view.in_(views))
            )
            if name
        }
    if appliers and principal.name not in appliers:
        raise PermissionDenied(
            f"feature project {project!r} is maintained by {', '.join(sorted(appliers))}: ask "
            "them or an admin, or apply as a project of your own"
        )


def plan_changes(
    db: Database, definitions: Definitions, project: str, views: Sequence[FeatureView]
) -> ApplyPlan:
    """What applying ``definitions`` as ``project`` would do, and what refuses it."""
    check_project(project)
    plan = ApplyPlan(project, [])
    with db.session() as session:
        entity_rows = {r.name: r for r in session.scalars(select(FeatureEntity))}
        view_rows = {r.name: r for r in session.scalars(select(FeatureViewRecord))}
        service_rows = {r.name: r for r in session.scalars(select(FeatureServiceRecord))}
        sets = list(session.scalars(select(TrainingSetRecord)))

    def owned(kind: str, name: str, row: Any) -> bool:
        if row is not None and row.project != project:
            plan.blocked.append(f"{kind} {name!r} belongs to project {row.project!r}")
            return False
        return True

    for entity in definitions.entities:
        row = entity_rows.get(entity.name)
        if not owned("entity", entity.name, row):
            continue
        if row is None:
            plan.changes.append(Change("entity", entity.name, "create"))
        else:
            old: dict[str, Any] = {"keys": list(row.keys), "description": row.description}
            new: dict[str, Any] = {"keys": list(entity.keys), "description": entity.description}
            details = _diff(old, new)
            plan.changes.append(
                Change("entity", entity.name, "update" if details else "unchanged", details)
            )
    new_views = {v.name: v for v in views}
    for view in views:
        view_row = view_rows.get(view.name)
        if not owned("feature view", view.name, view_row):
            continue
        if view_row is None:
            plan.changes.append(Change("view", view.name, "create", version=1))
            continue
        # No owner given keeps the one recorded (whoever applied it first).
        spec = view.spec()
        spec["owner"] = spec["owner"] or view_row.spec.get("owner")
        details = _diff(view_row.spec, spec)
        if not details:
            plan.changes.append(Change("view", view.name, "unchanged", version=view_row.version))
            continue
        version = (
            view_row.version + 1 if view.fingerprint() != view_row.fingerprint else view_row.version
        )
        plan.changes.append(Change("view", view.name, "update", details, version))
    for service in definitions.services:
        service_row = service_rows.get(service.name)
        if not owned("feature service", service.name, service_row):
            continue
        if service_row is None:
            plan.changes.append(Change("service", service.name, "create"))
        else:
            old = {
                "features": service_row.features,
                "description": service_row.description,
                "owner": service_row.owner,
            }
            new = {k: v for k, v in service.spec().items() if k != "name"}
            new["owner"] = new["owner"] or service_row.owner
            details = _diff(old, new)
            action: Action = "update" if details else "unchanged"
            plan.changes.append(Change("service", service.name, action, details))
    defined = {e.name for e in definitions.entities}
    for name, row in entity_rows.items():
        if row.project == project and name not in defined:
            plan.changes.append(Change("entity", name, "delete"))
    for name, old_view in view_rows.items():
        if old_view.project == project and name not in new_views:
            plan.changes.append(Change("view", name, "delete", version=old_view.version))
    services_defined = {s.name for s in definitions.services}
    for name, old_service in service_rows.items():
        if old_service.project == project and name not in services_defined:
            plan.changes.append(Change("service", name, "delete"))
    plan.blocked += _broken(plan, view_rows, new_views, service_rows, definitions, sets)
    return plan


def _broken(
    plan: ApplyPlan,
    view_rows: dict[str, FeatureViewRecord],
    new_views: dict[str, FeatureView],
    service_rows: dict[str, FeatureServiceRecord],
    definitions: Definitions,
    sets: list[TrainingSetRecord],
) -> list[str]:
    """Why the planned changes would break a dependant, if they would."""
    lost: dict[str, set[str] | None] = {}  # view -> features lost (None: the whole view)
    for change in plan.changes:
        if change.kind != "view" or change.action not in ("update", "delete"):
            continue
        old = view_rows[change.name]
        old_names = FeatureView.from_spec(old.spec).feature_names()
        new = new_views.get(change.name)
        if new is None or list(new.keys) != list(old.spec.get("keys", [])):
            lost[change.name] = None
        else:
            gone = set(old_names) - set(new.feature_names())
            if gone:
                lost[change.name] = gone
    reasons = []

    def uses(refs: Sequence[str]) -> list[str]:
        hits = []
        for ref in refs:
            view, _, feature = ref.partition(":")
            view = view.split("@")[0]
            if view in lost:
                gone = lost[view]
                if gone is None or feature in gone:
                    hits.append(ref)
        return hits

    latest: dict[str, TrainingSetRecord] = {}
    for record in sets:
        if record.name not in latest or record.version > latest[record.name].version:
            latest[record.name] = record
    for record in latest.values():
        hits = uses(record.features)
        if hits:
            reasons.append(
                f"training set {record.name} (version {record.version}) uses {', '.join(hits)}, "
                "which this change removes; keep them, or delete the training set first"
            )
    services = {n: list(r.features) for n, r in service_rows.items()}
    services |= {s.name: list(s.features) for s in definitions.services}
    deleted = {c.name for c in plan.changes if c.kind == "service" and c.action == "delete"}
    for name, refs in services.items():
        hits = uses(refs) if name not in deleted else []
        if hits:
            reasons.append(f"feature service {name} uses {', '.join(hits)}, which would be removed")
    gone_entities = {c.name for c in plan.changes if c.kind == "entity" and c.action == "delete"}
    for name, row in view_rows.items():
        still = new_views.get(name)
        entity = still.entity if still else (None if name in lost else row.spec.get("entity"))
        if entity in gone_entities:
            reasons.append(f"entity {entity} is still used by feature view {name}")
    return reasons


def write(
    db: Database,
    plan: ApplyPlan,
    definitions: Definitions,
    views: Sequence[FeatureView],
    by: str | None,
) -> None:
    """Carry out ``plan`` in one transaction."""
    if plan.blocked:
        raise Conflict("; ".join(plan.blocked))
    entities = {e.name: e for e in definitions.entities}
    new_views = {v.name: v for v in views}
    services = {s.name: s for s in definitions.services}
    with db.session() as session:
        for change in plan.pending:
            if change.kind == "entity":
                row = session.scalar(select(FeatureEntity).where(FeatureEntity.name == change.name))
                if change.action == "delete":
                    session.delete(row)
                    continue
                entity = entities[change.name]
                if row is None:
                    row = FeatureEntity(name=entity.name, project=plan.project)
                    session.add(row)
                row.keys = list(entity.keys)
                row.description = entity.description
            elif change.kind == "view":
                _write_view(session, plan.project, change, new_views.get(change.name), by)
            else:
                query = select(FeatureServiceRecord).where(FeatureServiceRecord.name == change.name)
                service_row = session.scalar(query)
                if change.action == "delete":
                    session.delete(service_row)
                    continue
                service = services[change.name]
                if service_row is None:
                    service_row = FeatureServiceRecord(name=service.name, project=plan.project)
                    session.add(service_row)
                service_row.features = list(service.features)
                service_row.description = service.description
                service_row.owner = service.owner or by
    plan.applied = True


def _write_view(
    session: Any, project: str, change: Change, view: FeatureView | None, by: str | None
) -> None:
    row = session.scalar(select(FeatureViewRecord).where(FeatureViewRecord.name == change.name))
    if change.action == "delete":
        # Its versions stay: saved training sets still name them, and a view created again
        # under the same name goes on counting from there.
        session.delete(row)
        return
    assert view is not None
    spec = view.spec() | {"owner": view.owner or (row.owner if row else by)}
    if row is None:
        last = session.scalar(
            select(func.max(FeatureViewVersion.version)).where(FeatureViewVersion.view == view.name)
        )
        row = FeatureViewRecord(name=view.name, project=project, version=last or 0, fingerprint="")
        session.add(row)
    if view.fingerprint() != row.fingerprint:
        row.version += 1
        session.add(
            FeatureViewVersion(
                view=view.name,
                version=row.version,
                spec=spec,
                fingerprint=view.fingerprint(),
                created_by=by,
            )
        )
    row.spec = spec
    row.fingerprint = view.fingerprint()
    row.owner = spec["owner"]
    row.description = view.description
    row.tags = list(view.tags)
    row.shared = view.shared
