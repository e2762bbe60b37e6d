"""The feature store of a workspace: definitions, training sets, online lookups.

Computations run on a restricted DuckDB connection of the warehouse (lake read-only, no file
or network access for user SQL) with a memory limit and a spill folder in the workspace, so
large joins spill to disk instead of running out of memory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import select

from atelier.backends.metadata import (
    Database,
    FeatureEntity,
    FeatureServiceRecord,
    FeatureViewRecord,
    FeatureViewVersion,
    TrainingSetRecord,
)
from atelier.backends.warehouse import QueryRefused, Warehouse
from atelier.backends.warehouse.guard import check_user_sql
from atelier.backends.warehouse.masking import rewrite
from atelier.backends.warehouse.sql import ident
from atelier.config.settings import FeatureSettings
from atelier.errors import InvalidInput, NotFound
from atelier.services.auth import AuditLog
from atelier.services.catalog import access
from atelier.services.features import loader, registry
from atelier.services.features.compile import compile_view, feature_types, source_relation
from atelier.services.features.definitions import (
    Definitions,
    FeatureView,
    check_name,
    check_project,
)
from atelier.services.features.engine import (
    Frame,
    Plan,
    choose_plan,
    distinct_keys,
    lookup_rows,
    lookup_windows,
)
from atelier.services.features.frames import check_storable, timestamp_column, to_arrow
from atelier.services.features.info import ViewInfo, upstream_tables, view_info
from atelier.services.features.lineage import LINEAGE_KEY
from atelier.services.features.pii import (
    EVERY_COLUMN,
    FeaturePii,
    Reader,
    closed_masker,
    closed_plan,
    feature_pii,
    known_kind,
    live_tags,
    table_key,
)
from atelier.services.features.registry import ApplyPlan
from atelier.services.features.training import (
    Request,
    TrainingSet,
    check_columns,
    lake_snapshot,
    lineage_json,
    plan_requests,
    read_table,
    register_frame,
)
from atelier.services.pii.audit import RawReadAudit

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from atelier.backends.warehouse import Attachment
    from atelier.backends.warehouse.masking import Masking
    from atelier.services.auth import Principal
    from atelier.services.catalog import Sources, TableEntry
    from atelier.services.leases import LeaseKeeper
    from atelier.services.pii.grants import PiiGrants
    from atelier.services.pii.policies import PiiPolicies


#: See :meth:`FeatureStore.connection`: the largest build side whose keys go to a scan as a list.
KEY_FILTER_ROWS = 32_768


def default_memory_limit() -> str:
    """40% of the machine's memory: room for Python, Arrow results and other processes."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - not POSIX
        return "4GB"
    return f"{max(1, int(total * 0.4 / 2**20))}MB"


class MaskingPolicy(Protocol):
    """What the store needs of :class:`atelier.services.pii.enforce.SqlMasking`: the plans
    of SQL reads."""

    def plan(self, principal: Principal | None, *, remote: bool = True) -> Masking: ...


@runtime_checkable
class ReaderPolicy(Protocol):
    """What online lookups (masked in Python) need of it too: the rules and the grants. A
    masking policy without them masks every lookup (every kind redacted)."""

    @property
    def policies(self) -> PiiPolicies: ...

    @property
    def grants(self) -> PiiGrants: ...


class FeatureStore:
    def __init__(
        self,
        db: Database,
        warehouse: Warehouse,
        settings: FeatureSettings,
        root: Path,
        *,
        memory_limit: str | None = None,
        sources: Sources | None = None,
    ) -> None:
        self.db = db
        self.warehouse = warehouse
        self.settings = settings
        self.root = Path(root)
        #: Attached sources that views may read (``source.schema.table``); None: none.
        self.sources = sources
        self.memory_limit = memory_limit or default_memory_limit()
        self.spill_dir = self.root / ".atelier" / "spill" / "features"
        self.audit = AuditLog(db)
        #: Personal data masking (:class:`atelier.services.pii.enforce.SqlMasking`): what a
        #: person's feature computations read of tagged columns. None fails closed: every
        #: tagged column is redacted for everyone (see :meth:`plan`).
        self.masking: MaskingPolicy | None = None
        #: The server's lease keeper: a materialization holds ``materialize:VIEW`` through it
        #: (:mod:`.exclusive`). None: one of this store's own, made on first use.
        self.leases: LeaseKeeper | None = None

    def lease_keeper(self) -> LeaseKeeper:
        """The lease keeper materializations hold their view's lease through."""
        if self.leases is None:
            from atelier.services.leases import LeaseKeeper, Leases

            self.leases = LeaseKeeper(Leases(self.db))
        return self.leases

    # -- connections -----------------------------------------------------------------------

    @contextmanager
    def connection(
        self,
        views: Iterable[FeatureView] = (),
        tables: Iterable[str] = (),
        *,
        masking: Masking | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A restricted warehouse connection set up for feature work, with the attached
        sources that ``views`` and ``tables`` read (read-only). With ``masking`` (a person's
        plan, see :meth:`plan`), read views through :meth:`masked_view`."""
        attachments = self._attachments(list(views), list(tables))
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        settings: dict[str, str | int | bool] = {
            "memory_limit": self.memory_limit,
            "temp_directory": str(self.spill_dir),
            # Row order is restored by the engine (ORDER BY the entity row); letting DuckDB
            # drop it saves memory on large joins.
            "preserve_insertion_order": False,
            # The ASOF join's nested-loop shortcut misjudges frames it cannot count (Arrow).
            "asof_loop_join_threshold": 0,
            # A hash join on one condition whose build side has up to this many rows (the
            # semi join on the frame's keys of the ASOF and window plans) hands its keys to
            # the feature scan as an IN filter, which the Parquet reader applies before it
            # decodes the other columns. Joins on several conditions (the range joins) hand
            # on min/max bounds only (EXPLAIN ANALYZE, DuckDB 1.5).
            "dynamic_or_filter_threshold": KEY_FILTER_ROWS,
        }
        with self.warehouse.user_connection(
            attachments, settings=settings, masking=masking
        ) as user:
            # Trusted engine SQL; user SQL in definitions is checked on its own.
            yield user.connection

    def plan(self, principal: Principal | None, *, remote: bool = True) -> Masking:
        """The masking plan of ``principal``'s feature computations, as for their SQL
        (``remote``: the result leaves the server; no principal: every tag masks). With no
        masking policy the store fails closed: every tagged column is redacted."""
        if self.masking is not None:
            return self.masking.plan(principal, remote=remote)
        return closed_plan(live_tags(self.db))

    def reader(self, principal: Principal | None, *, remote: bool = True) -> Reader:
        """How values computed from tagged columns are shown to ``principal`` outside SQL
        (online lookups): the rules, and the tables and kinds they may read raw (an export
        grant when ``remote``). No principal or no masking policy: nothing raw."""
        policy: object = self.masking
        if not isinstance(policy, ReaderPolicy):
            return Reader(closed_masker(), frozenset(), frozenset())
        tables: set[str] = set()
        kinds: set[str] = set()
        if principal is not None:
            tables, kinds = policy.grants.raw_scope(principal, export=remote)
        masker = policy.policies.masker()
        return Reader(masker, frozenset(t.lower() for t in tables), frozenset(kinds))

    def masked_view(
        self, con: duckdb.DuckDBPyConnection, view: FeatureView, masking: Masking | None
    ) -> FeatureView:
        """``view`` reading its source as ``masking`` lets its reader see it: when the
        source names a masked table, a view over a temporary relation holding the source
        rewritten as the query service rewrites SQL (tagged columns replaced by their mask).
        ``con`` must come from :meth:`connection` with the same ``masking``."""
        if not masking:
            return view
        if view.query is not None:
            try:
                check_user_sql(con, view.query)
            except QueryRefused as error:
                raise InvalidInput(f"the query of view {view.name!r}: {error}") from None
        relation, _ = source_relation(view)
        sql = f"SELECT * FROM {relation}"
        masked = rewrite(con, sql, masking, self.warehouse.alias)
        if masked == sql:
            return view
        name = ident(f"__atl_masked_{view.name}")
        # A table when the source is another database's: its scanner is planned only once.
        kind = "TABLE" if "." in (view.source or "").partition(".")[2] else "VIEW"
        if view.query is not None and kind == "VIEW":
            from atelier.services.features.compile import _reads_sources

            kind = "TABLE" if _reads_sources(con, view) else kind
        con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {masked}")
        return dataclasses.replace(view, source=None, query=f"SELECT * FROM {name}")

    def _attachments(self, views: list[FeatureView], tables: list[str]) -> list[Attachment]:
        """Attachments of the sources that ``views`` and ``tables`` read. A source's name is
        never a warehouse schema's, so the first part of any dotted name that is a source's
        name means that source."""
        names = [name for view in views for name in upstream_tables(view)] + tables
        wanted = {name.split(".")[0] for name in names if "." in name}
        sources = self.sources
        known = sources.names() if sources is not None and wanted else set()
        for view in views:
            parts = (view.source or "").split(".")
            if len(parts) >= 3 and parts[0] not in known:
                raise NotFound(
                    f"feature view {view.name!r} reads {view.source}, but there is no source "
                    f"named {parts[0]!r} (see `atelier sources list`)"
                )
        if sources is None:
            return []
        return [sources.attachment(name) for name in sorted(wanted & known)]

    # -- definitions -------------------------------------------------------------------------

    def load(self, path: str | Path | None = None) -> Definitions:
        """Definitions from ``features.py``/``features.yaml`` (a file or its folder)."""
        return loader.load(path)

    def apply(
        self,
        definitions: Definitions,
        *,
        project: str | None = None,
        by: str | None = None,
        dry_run: bool = False,
        principal: Principal | None = None,
        client: str | None = None,
    ) -> ApplyPlan:
        """Check ``definitions`` against their sources and apply them as ``project`` (after
        showing the diff with ``dry_run``); refused (Conflict) when it would break a
        dependant, with nothing written. With ``principal`` (who acts; ``by`` defaults to
        their name), refused (PermissionDenied) first when the project is not theirs to
        change (:func:`~atelier.services.features.registry.check_may_apply`), and an
        applied change is recorded in the audit log (``client``: the entry point)."""
        definitions.check()
        project = project or definitions.project or "default"
        if principal is not None:
            access.check(principal, access.BUILDERS, "apply feature definitions", ("features",))
            check_project(project)
            registry.check_may_apply(self.db, project, principal)
            by = by or principal.name
        views = registry.resolve_keys(definitions, self.db)
        with self.connection(views) as con:
            for view in views:
                compiled = compile_view(con, view)
                feature_types(con, compiled)
        plan = registry.plan_changes(self.db, definitions, project, views)
        if not dry_run:
            registry.write(self.db, plan, definitions, views, by)
            if principal is not None:
                detail = {"changes": [c.line() for c in plan.pending]}
                access.record(self.audit, "features.apply", principal, plan.project, client, detail)
        return plan

    def entities(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            return [
                {
                    "name": e.name,
                    "keys": list(e.keys),
                    "project": e.project,
                    "description": e.description,
                }
                for e in session.scalars(select(FeatureEntity).order_by(FeatureEntity.name))
            ]

    def views(self, *, project: str | None = None, search: str | None = None) -> list[ViewInfo]:
        with self.db.session() as session:
            query = select(FeatureViewRecord).order_by(FeatureViewRecord.name)
            if project is not None:
                query = query.where(FeatureViewRecord.project == project)
            rows = list(session.scalars(query))
            infos = [view_info(session, row, detail=False) for row in rows]
        if search:
            words = search.lower().split()
            infos = [i for i in infos if all(w in i.haystack() for w in words)]
        return infos

    def catalog_entries(self) -> list[TableEntry]:
        """Every view as a line of the data catalog (kind "feature view")."""
        return [info.catalog_entry() for info in self.views()]

    def view(self, name: str) -> ViewInfo:
        """One view with its versions, feature types, statistics, lineage and materializations."""
        with self.db.session() as session:
            row = session.scalar(select(FeatureViewRecord).where(FeatureViewRecord.name == name))
            if row is None:
                raise NotFound(f"no feature view {name!r}: see `atelier features list`")
            return view_info(session, row, detail=True)

    def versions(self, name: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(
                select(FeatureViewVersion)
                .where(FeatureViewVersion.view == name)
                .order_by(FeatureViewVersion.version)
            )
            return [
                {
                    "version": r.version,
                    "spec": r.spec,
                    "created_by": r.created_by,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]

    def services(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(select(FeatureServiceRecord).order_by(FeatureServiceRecord.name))
            return [
                {
                    "name": r.name,
                    "project": r.project,
                    "features": list(r.features),
                    "description": r.description,
                    "owner": r.owner,
                }
                for r in rows
            ]

    def training_sets(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.db.session() as session:
            query = select(TrainingSetRecord).order_by(
                TrainingSetRecord.name, TrainingSetRecord.version
            )
            if name is not None:
                query = query.where(TrainingSetRecord.name == name)
            return [
                {
                    "name": r.name,
                    "version": r.version,
                    "features": list(r.features),
                    "feature_views": dict(r.view_versions),
                    "entities": r.entities,
                    "rows": r.rows,
                    "created_by": r.created_by,
                    "created_at": r.created_at.isoformat(),
                }
                for r in session.scalars(query)
            ]

    def delete_training_set(self, name: str) -> int:
        """Forget every recorded version of training set ``name`` (the table stays)."""
        with self.db.session() as session:
            rows = list(
                session.scalars(select(TrainingSetRecord).where(TrainingSetRecord.name == name))
            )
            if not rows:
                raise NotFound(f"no training set {name!r}")
            for row in rows:
                session.delete(row)
            return len(rows)

    # -- online serving and statistics ---------------------------------------------------------

    def materialize(
        self,
        views: Sequence[str] | None = None,
        *,
        incremental: bool = False,
        as_of: datetime | None = None,
        principal: Principal | None = None,
        client: str | None = None,
        remote: bool = True,
    ) -> list[dict[str, Any]]:
        """Write the latest values of ``views`` (all by default) to the online store. With
        ``principal`` (who acts), checked first and recorded in the audit log. The store
        keeps the values as computed on the server; every lookup masks the features computed
        from tagged columns for its reader (see :meth:`online`), so what is stored does not
        depend on who materialized (``remote`` is kept for callers; it changes nothing)."""
        from atelier.services.features.serving import materialize

        if principal is not None:
            access.check(principal, access.BUILDERS, "materialize features", ("features",))
        results = materialize(self, views, incremental=incremental, as_of=as_of)
        if principal is not None:
            target = ",".join(r["view"] for r in results)
            detail = {"incremental": incremental}
            access.record(self.audit, "features.materialize", principal, target, client, detail)
        return results

    def online(
        self,
        keys: Any,
        features: str | Sequence[str],
        *,
        project: str | None = None,
        principal: Principal | None = None,
        remote: bool = True,
        client: str | None = None,
    ) -> pa.Table:
        """Latest values of ``features`` (refs or a feature service) for each key row. The
        features computed from tagged columns are masked as ``principal`` may see them
        (``remote``: the result leaves the server; no principal: masked). A lookup that
        returns such a feature raw (under a grant) is recorded in the audit log
        (``pii.raw_read``, ``client``: the entry point)."""
        from atelier.services.features.serving import online

        reader = self.reader(principal, remote=remote)
        raw: list[tuple[str, str, FeaturePii]] = []
        table = online(self, keys, features, project=project, reader=reader, raw=raw)
        found: dict[str, dict[str, str]] = {}
        for _, _, pii in raw:
            for origin, kind in pii.origins:
                source, _, column = origin.rpartition(".")
                found.setdefault(source, {})[column] = kind
        RawReadAudit(self.db, self.audit).record_columns(
            found,
            principal,
            read="online",
            rows=table.num_rows,
            remote=remote,
            client=client,
            detail={
                "views": sorted({view for view, _, _ in raw}),
                "features": [f"{view}:{feature}" for view, feature, _ in raw],
            },
        )
        return table

    def statistics(self, name: str) -> dict[str, Any]:
        """Recompute and store the per-feature statistics and freshness of view ``name``
        (shown to anyone who may see the view: tagged columns are read masked)."""
        from atelier.services.features.stats import refresh_statistics

        return refresh_statistics(self, name)

    # -- training sets ---------------------------------------------------------------------------

    def training_set(
        self,
        entities: Any,
        features: str | Sequence[str],
        *,
        timestamp: str | None = None,
        save_as: str | None = None,
        full_names: bool = False,
        project: str | None = None,
        by: str | None = None,
        plan: Plan | None = None,
        principal: Principal | None = None,
        client: str | None = None,
        remote: bool = True,
    ) -> TrainingSet:
        """``entities`` (pandas, polars, Arrow, or a table name: ``schema.table`` in the
        warehouse, ``source.schema.table`` in an attached source) with the requested
        ``features`` as of each row's ``timestamp``: every row once, in input order. With
        ``principal`` (who acts), checked first; a saved training set is recorded in the
        audit log (``client``: the entry point). Tagged columns are read through
        ``principal``'s masking plan (``remote``: the result leaves the server); a training
        set holding values of tagged columns that the plan lets them read raw is recorded in
        the audit log (``pii.raw_read``)."""
        if principal is not None:
            access.check(principal, access.BUILDERS, "build training sets", ("features",))
            by = principal.name
        masking = self.plan(principal, remote=remote)
        raw: list[str] = []
        training = self._training_set(
            entities, features, timestamp, save_as, full_names, project, by, plan, masking, raw
        )
        if principal is not None and save_as is not None:
            detail = {"version": training.version, "feature_views": training.view_versions}
            access.record(
                self.audit, "features.training_set", principal, training.name, client, detail
            )
        RawReadAudit(self.db, self.audit).record(
            masking,
            principal,
            read="training_set",
            rows=training.rows,
            remote=remote,
            client=client,
            detail={
                "training_set": training.name,
                "version": training.version,
                "views": sorted({ref.split(":", 1)[0] for ref in raw}),
                "features": raw,
            },
        )
        return training

    def _training_set(
        self,
        entities: Any,
        features: str | Sequence[str],
        timestamp: str | None,
        save_as: str | None,
        full_names: bool,
        project: str | None,
        by: str | None,
        plan: Plan | None,
        masking: Masking | None = None,
        raw: list[str] | None = None,
    ) -> TrainingSet:
        """The training set, read through ``masking``; the tagged columns it holds raw are
        noted in ``masking.reads`` and the refs of the features computed from them appended
        to ``raw``."""
        requests = plan_requests(self.db, features, project=project, full_names=full_names)
        source = entities if isinstance(entities, str) else "dataframe"
        views = [r.resolved.view for r in requests]
        entities_named = isinstance(entities, str)
        classified: Future[dict[str, FeaturePii]] | None = None
        if not entities_named:
            table = to_arrow(entities)
            column = timestamp_column(table, timestamp)
            check_columns(requests, table.column_names)
            # The classifier reads the frame (Python) while the lake opens and the features
            # are computed (DuckDB, which lets go of the GIL meanwhile).
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atelier-classify")
            classified = pool.submit(_classified, table)
            pool.shutdown(wait=False)
        with self.connection(views, [source], masking=masking) as con:
            if isinstance(entities, str):
                table = to_arrow(read_table(con, entities, masking, self.warehouse.alias))
                column = timestamp_column(table, timestamp)
                check_columns(requests, table.column_names)
            frame = register_frame(con, table, column, requests)
            columns: dict[str, pa.ChunkedArray] = {}
            plans = {}
            for request in requests:
                view = self.masked_view(con, request.resolved.view, masking)
                plans[request.resolved.view.name] = self._compute(
                    con, request, view, frame, plan, columns
                )
            snapshot = lake_snapshot(con, self.warehouse.alias)
        import pyarrow as pa

        ordered = [(c, columns[c]) for r in requests for c in r.columns]
        result = pa.Table.from_arrays(
            [*table.columns, *(array for _, array in ordered)],
            names=[*table.column_names, *(name for name, _ in ordered)],
        )
        training = TrainingSet(
            result,
            [f"{r.resolved.view.name}:{f}" for r in requests for f in r.features],
            {r.resolved.view.name: r.resolved.version for r in requests},
            plans,
        )
        named = source if entities_named else None
        found = classified.result() if classified is not None else None
        personal = self._training_pii(requests, named, table, found)
        training.pii = {column: pii.kind for column, pii in personal.items()}
        if masking is not None and masking.raw:
            refs = _note_raw_reads(masking, requests, named, table.column_names, personal)
            if raw is not None:
                raw.extend(refs)
        lineage = lineage_json(training, source, snapshot)
        training.table = result.replace_schema_metadata({LINEAGE_KEY: lineage.encode()})
        if save_as is not None:
            self._save(training, save_as, source, lineage, by)
            self._inherit(training, personal, by)
            saved = lineage_json(training, source, snapshot)  # now with its name and version
            training.table = result.replace_schema_metadata({LINEAGE_KEY: saved.encode()})
        return training

    def _training_pii(
        self,
        requests: list[Request],
        entities: str | None,
        frame: pa.Table,
        classified: dict[str, FeaturePii] | None = None,
    ) -> dict[str, FeaturePii]:
        """Column of a training set -> its personal data: the tagged columns of the entity
        table (``entities``), or for an entity frame (None) what the classifier finds in its
        columns (a sample; ``classified``: found already), and the features computed from
        tagged columns."""
        entity_columns = list(frame.column_names)
        tables = [table_key(entities)] if entities is not None else []
        for request in requests:
            tables += [table_key(t) for t in upstream_tables(request.resolved.view)]
        tags = live_tags(self.db, tables)
        found: dict[str, FeaturePii] = {}
        if entities is not None:
            key = tables[0]
            table_tags = tags.get(key) or {}
            for column in entity_columns:
                name = column.lower() if column.lower() in table_tags else EVERY_COLUMN
                kind = table_tags.get(name)
                if kind is not None:
                    found[column] = FeaturePii(known_kind(kind), ((f"{key}.{name}", kind),))
        else:
            found |= classified if classified is not None else _classified(frame)
        for request in requests:
            features = feature_pii(request.resolved.view, tags)
            for feature, column in zip(request.features, request.columns, strict=True):
                if feature in features:
                    found[column] = features[feature]
        return found

    def _inherit(
        self, training: TrainingSet, personal: dict[str, FeaturePii], by: str | None
    ) -> None:
        """Tag the saved training set's columns computed from tagged columns, so that SQL
        over the table masks them by the same rules."""
        from atelier.services.catalog.pii import inherit

        assert training.name is not None
        inherit(
            self.db,
            self.audit,
            training.name,
            {column: pii.kind for column, pii in personal.items()},
            source=f"training set {training.name} version {training.version}",
            by=by,
            columns=list(training.table.column_names),
            origins={column: ", ".join(pii.sources) for column, pii in personal.items()},
        )

    def _compute(
        self,
        con: duckdb.DuckDBPyConnection,
        request: Request,
        view: FeatureView,
        frame: Frame,
        plan: Plan | None,
        out: dict[str, pa.ChunkedArray],
    ) -> str:
        compiled = compile_view(con, view, read=True)
        feature_rows = None
        if compiled.table is not None:
            # The table's own count is DuckLake metadata: no scan.
            raw, _ = source_relation(view)
            counted = con.execute(f"SELECT count(*) FROM {raw}").fetchone()
            feature_rows = int(counted[0]) if counted else 0
        if plan is None:
            entity_keys = distinct_keys(con, frame, view.keys)
            plan = choose_plan(frame, entity_keys, feature_rows, view.ttl_ns, view.max_window())
        chosen = plan
        by_name = dict(zip(request.features, request.columns, strict=True))
        rows = [f for f in view.row_features() if f.name in by_name]
        if rows:
            result = lookup_rows(con, compiled, frame, rows, chosen, ttl=view.ttl_ns)
            for i, feature in enumerate(rows):
                out[by_name[feature.name]] = result.column(f"__atl_f{i}")
        aggregates = [a for a in view.aggregate_features() if a[0] in by_name]
        if aggregates:
            result = lookup_windows(con, compiled, frame, aggregates, chosen)
            for i, (name, *_) in enumerate(aggregates):
                out[by_name[name]] = result.column(f"__atl_f{i}")
        return chosen.describe()

    def _save(
        self, training: TrainingSet, name: str, source: str, lineage: str, by: str | None
    ) -> None:
        schema, _, table_name = name.rpartition(".")
        schema = schema or "main"
        for part in (schema, table_name):
            check_name(part, "training set table name part")
        check_storable(training.table)
        data = training.table.replace_schema_metadata(None)
        target = f"{ident(schema)}.{ident(table_name)}"

        def write(con: duckdb.DuckDBPyConnection) -> None:
            con.register("__atl_training", data)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM __atl_training")

        self.warehouse.run_write(write, author=by, message="training set", extra_info=lineage)
        version = self.warehouse.snapshots(table_name, schema=schema)[-1].snapshot_id
        with self.db.session() as session:
            session.add(
                TrainingSetRecord(
                    name=f"{schema}.{table_name}",
                    version=version,
                    features=training.features,
                    view_versions=training.view_versions,
                    entities=source,
                    rows=training.rows,
                    created_by=by,
                )
            )
        training.name, training.version = f"{schema}.{table_name}", version


def _note_raw_reads(
    masking: Masking,
    requests: list[Request],
    entities: str | None,
    entity_columns: list[str],
    personal: dict[str, FeaturePii],
) -> list[str]:
    """Note in ``masking.reads`` the tagged columns a training set holds raw: those of the
    entity table (``entities``) that the plan reads raw, and, for each feature computed from
    tagged columns, those behind it that the plan reads raw (``table.*``: the untagged
    columns of a table marked personal). The refs of those features, in order."""
    if entities is not None:
        key = table_key(entities)
        masking.reads.note(key, masking.raw_kinds(key, entity_columns))
    refs: list[str] = []
    for request in requests:
        name = request.resolved.view.name
        for feature, column in zip(request.features, request.columns, strict=True):
            pii = personal.get(column)
            if pii is None:
                continue
            seen = False
            for origin, _ in pii.origins:
                source, _, source_column = origin.rpartition(".")
                found = masking.raw_kinds(source, [source_column])
                masking.reads.note(source, found)
                seen = seen or bool(found)
            if seen:
                refs.append(f"{name}:{feature}")
    return refs


def _classified(frame: pa.Table) -> dict[str, FeaturePii]:
    """The columns of an entity frame that the classifier finds personal data in (its sample:
    values sent by the person, who had them already). A classifier error is logged: the
    training set stands, without those columns marked."""
    import logging

    from atelier.services.pii import classify

    try:
        findings = classify(frame)
    except Exception:  # the classifier must not lose a training set
        logging.getLogger(__name__).exception("classifying an entity frame failed")
        return {}
    return {
        f.column: FeaturePii(str(f.kind), ((f"entity frame.{f.column}", str(f.kind)),))
        for f in findings
    }


def utc_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (naive: taken as UTC)."""
    from datetime import UTC

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
