"""``ws.features``: the feature store from Python, the same for both clients.

::

    ws.features.apply("features.py")                       # the definitions of a project
    train = ws.features.training_set(labels, ["spend:amount_avg_30d", "spend:*"],
                                     save_as="ml.churn_train")
    ws.features.online({"customer_id": [1, 2]}, ["spend:amount_sum_7d"])
    ws.features.views(); ws.features.describe("spend"); ws.features.materialize(["spend"])

The embedded client calls the workspace's :class:`~atelier.services.features.FeatureStore`;
the remote one the ``/api/v1/features`` endpoints, with entity frames and results as Arrow IPC.
A training set built while an MLflow run is active in this process is recorded on that run
(see :mod:`atelier.sdk.feature_runs`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from atelier.contract import ARROW_STREAM
from atelier.contract.features import ApplyPlan, Materialized, SavedTrainingSet, TrainingSetInfo
from atelier.sdk.arrow import from_ipc, to_ipc
from atelier.sdk.feature_runs import lineage_of, log_training_set
from atelier.sdk.shapes import Format, convert, shaped
from atelier.services.features.definitions import Definitions
from atelier.services.features.frames import to_arrow
from atelier.services.features.loader import from_dict, load, to_dict

if TYPE_CHECKING:
    import pyarrow

    from atelier.sdk.transport import Transport
    from atelier.services.auth import Principal
    from atelier.services.features import FeatureStore
    from atelier.services.workbench import Workbench

Refs = str | Sequence[str]
#: What :meth:`Features.apply` takes: a file or folder (``features.py``/``.yaml``; None: the
#: current folder), loaded definitions, or their plain-data form (as in YAML).
DefinitionsLike = str | Path | Definitions | dict[str, Any] | None


class Features(ABC):
    """Feature views, point-in-time training sets and online lookups of a workspace."""

    def training_set(
        self,
        entities: Any,
        features: Refs,
        *,
        format: Format = "pandas",
        save_as: str | None = None,
        timestamp: str | None = None,
        full_names: bool = False,
        project: str | None = None,
    ) -> Any:
        """``entities`` (a pandas, polars or Arrow table, or a table name: ``schema.table``
        or ``source.schema.table``) with ``features`` (``"view:feature"``, ``"view:*"``,
        ``"view@2:feature"`` or a feature service's name) as of each row's event time
        (``timestamp``, else ``event_timestamp``, else its only timestamp column). Every
        entity row comes back once, in order. ``save_as="schema.table"`` also saves it as a
        versioned warehouse table. The lineage (feature-view versions, saved name and
        version) is in the Arrow schema metadata ``atelier.training_set`` and, for pandas,
        in ``frame.attrs["atelier.training_set"]``."""
        refs = [features] if isinstance(features, str) else list(features)
        table = self._training_set(entities, refs, timestamp, save_as, full_names, project)
        log_training_set(table)
        result = convert(table, format)
        if format == "pandas":
            result.attrs["atelier.training_set"] = lineage_of(table)
        return result

    def online(
        self, keys: Any, features: Refs, *, format: Format = "pandas", project: str | None = None
    ) -> Any:
        """The latest materialized values of ``features`` for each row of ``keys`` (a
        mapping of key columns to values, or a table of them): one row per key row, in order,
        null where unknown or past the view's ttl."""
        refs = [features] if isinstance(features, str) else list(features)
        return convert(self._online(keys, refs, project), format)

    @abstractmethod
    def save_training_set(
        self,
        entities: str,
        features: Refs,
        *,
        save_as: str,
        timestamp: str | None = None,
        full_names: bool = False,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Build the training set of warehouse table ``entities`` (as :meth:`training_set`)
        and save it as table ``save_as``, without bringing its rows here. Returns
        ``{"name", "rows", "training_set_version", "features", "feature_views"}``."""

    @abstractmethod
    def statistics(self, view: str) -> dict[str, Any]:
        """Recompute and store the per-feature statistics and freshness of ``view``."""

    @abstractmethod
    def views(
        self, *, search: str | None = None, project: str | None = None
    ) -> list[dict[str, Any]]:
        """The applied feature views (optionally of ``project``, or matching ``search``)."""

    @abstractmethod
    def describe(self, view: str) -> dict[str, Any]:
        """One view: definition, features, statistics, freshness, lineage, versions."""

    @abstractmethod
    def apply(
        self,
        definitions: DefinitionsLike = None,
        *,
        project: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Apply a project's definitions (with ``dry_run``, only show the diff). Returns the
        diff: ``{"project", "changes", "blocked", "applied"}``; a change that would break a
        saved training set or a feature service is refused (Conflict) with the reason."""

    @abstractmethod
    def materialize(
        self, views: Sequence[str] | None = None, *, incremental: bool = False
    ) -> list[dict[str, Any]]:
        """Write the latest values of ``views`` (default: all) to the online store."""

    @abstractmethod
    def training_sets(self, name: str | None = None) -> list[dict[str, Any]]:
        """Saved training sets (every version), with the feature-view versions that made them."""

    @abstractmethod
    def _training_set(
        self,
        entities: Any,
        features: list[str],
        timestamp: str | None,
        save_as: str | None,
        full_names: bool,
        project: str | None,
    ) -> pyarrow.Table: ...

    @abstractmethod
    def _online(self, keys: Any, features: list[str], project: str | None) -> pyarrow.Table: ...


def load_definitions(path: str | Path | None = None) -> Definitions:
    """The definitions in ``features.py``/``features.yaml`` (a file, or the folder holding one;
    None: the current folder), loaded here: a Python file runs in this process."""
    return load(path)


def _definitions(given: DefinitionsLike) -> Definitions:
    if isinstance(given, Definitions):
        return given
    if isinstance(given, dict):
        return from_dict(given)
    return load(given)


class EmbeddedFeatures(Features):
    def __init__(
        self,
        workbench: Workbench,
        user: str,
        principal: Principal | None = None,
        *,
        client: str = "sdk",
    ) -> None:
        self.workbench = workbench
        self.user = user
        #: Who acts (checked by the store: a project's members and admins apply as it).
        self.principal = principal
        #: The entry point the audit log records.
        self.client = client

    @property
    def _store(self) -> FeatureStore:
        return self.workbench.features

    def _training_set(
        self,
        entities: Any,
        features: list[str],
        timestamp: str | None,
        save_as: str | None,
        full_names: bool,
        project: str | None,
    ) -> pyarrow.Table:
        return self._store.training_set(
            entities,
            features,
            timestamp=timestamp,
            save_as=save_as,
            full_names=full_names,
            project=project,
            **self._acting(),
        ).table

    def _acting(self, by: bool = True) -> dict[str, Any]:
        """Who acts, as the store's methods take it: the principal (checked and audited), or
        only a name when this client was made without one. Results stay in this process:
        personal data is masked as for the person's embedded SQL (not remote)."""
        if self.principal is None:
            return {"by": self.user} if by else {}
        return {"principal": self.principal, "client": self.client, "remote": False}

    def save_training_set(
        self,
        entities: str,
        features: Refs,
        *,
        save_as: str,
        timestamp: str | None = None,
        full_names: bool = False,
        project: str | None = None,
    ) -> dict[str, Any]:
        refs = [features] if isinstance(features, str) else list(features)
        result = self._store.training_set(
            entities,
            refs,
            timestamp=timestamp,
            save_as=save_as,
            full_names=full_names,
            project=project,
            **self._acting(),
        )
        saved: dict[str, Any] = shaped(
            SavedTrainingSet, {"name": result.name, "rows": result.rows, **result.lineage()}
        )
        return saved

    def statistics(self, view: str) -> dict[str, Any]:
        return self._store.statistics(view)

    def _online(self, keys: Any, features: list[str], project: str | None) -> pyarrow.Table:
        # Results stay in this process: masked as the person's embedded SQL is (not remote).
        return self._store.online(
            keys,
            features,
            project=project,
            principal=self.principal,
            remote=False,
            client=self.client,
        )

    def views(
        self, *, search: str | None = None, project: str | None = None
    ) -> list[dict[str, Any]]:
        return [v.as_dict() for v in self._store.views(project=project, search=search)]

    def describe(self, view: str) -> dict[str, Any]:
        return self._store.view(view).as_dict()

    def apply(
        self,
        definitions: DefinitionsLike = None,
        *,
        project: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        plan = self._store.apply(
            _definitions(definitions),
            project=project,
            by=self.user,
            dry_run=dry_run,
            principal=self.principal,
            client=self.client,
        )
        result: dict[str, Any] = shaped(ApplyPlan, plan.as_dict())
        return result

    def materialize(
        self, views: Sequence[str] | None = None, *, incremental: bool = False
    ) -> list[dict[str, Any]]:
        done = self._store.materialize(views, incremental=incremental, **self._acting(by=False))
        result: list[dict[str, Any]] = shaped(Materialized, done)
        return result

    def training_sets(self, name: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = shaped(TrainingSetInfo, self._store.training_sets(name))
        return found


class RemoteFeatures(Features):
    def __init__(self, client: Transport) -> None:
        self.client = client

    def _training_set(
        self,
        entities: Any,
        features: list[str],
        timestamp: str | None,
        save_as: str | None,
        full_names: bool,
        project: str | None,
    ) -> pyarrow.Table:
        options: dict[str, Any] = {"timestamp": timestamp, "save_as": save_as}
        options |= {"full_names": full_names, "project": project}
        options = {k: v for k, v in options.items() if v is not None}
        accept = {"Accept": ARROW_STREAM}
        if isinstance(entities, str):
            response = self.client.request(
                "POST",
                "/features/training-set",
                json={"entities": entities, "features": features, **options},
                headers=accept,
                timeout=None,
            )
        else:
            response = self.client.request(
                "POST",
                "/features/training-set",
                params={"features": features, **options},
                content=to_ipc(to_arrow(entities)),
                headers={"Content-Type": ARROW_STREAM, **accept},
                timeout=None,
            )
        return from_ipc(response.content)

    def _online(self, keys: Any, features: list[str], project: str | None) -> pyarrow.Table:
        columns = keys if isinstance(keys, dict) else to_arrow(keys, "key frame").to_pydict()
        response = self.client.request(
            "POST",
            "/features/online",
            json={"keys": columns, "features": features, "project": project},
            headers={"Accept": ARROW_STREAM},
        )
        return from_ipc(response.content)

    def save_training_set(
        self,
        entities: str,
        features: Refs,
        *,
        save_as: str,
        timestamp: str | None = None,
        full_names: bool = False,
        project: str | None = None,
    ) -> dict[str, Any]:
        refs = [features] if isinstance(features, str) else list(features)
        body: dict[str, Any] = {"entities": entities, "features": refs, "save_as": save_as}
        body |= {"timestamp": timestamp, "full_names": full_names, "project": project}
        # No Arrow in Accept: the server answers what it saved, not the rows.
        saved: dict[str, Any] = shaped(
            SavedTrainingSet,
            self.client.request("POST", "/features/training-set", json=body, timeout=None).json(),
        )
        return saved

    def statistics(self, view: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.request(
            "POST", f"/features/views/{quote(view, safe='')}/statistics", timeout=None
        ).json()
        return found

    def views(
        self, *, search: str | None = None, project: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"search": search, "project": project}.items() if v}
        listed: list[dict[str, Any]] = self.client.request(
            "GET", "/features/views", params=params
        ).json()
        return listed

    def describe(self, view: str) -> dict[str, Any]:
        detail: dict[str, Any] = self.client.request(
            "GET", f"/features/views/{quote(view, safe='')}"
        ).json()
        return detail

    def apply(
        self,
        definitions: DefinitionsLike = None,
        *,
        project: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        body = definitions if isinstance(definitions, dict) else to_dict(_definitions(definitions))
        plan: dict[str, Any] = shaped(
            ApplyPlan,
            self.client.request(
                "POST",
                "/features/apply",
                json={"definitions": body, "project": project, "dry_run": dry_run},
                timeout=None,
            ).json(),
        )
        return plan

    def materialize(
        self, views: Sequence[str] | None = None, *, incremental: bool = False
    ) -> list[dict[str, Any]]:
        body = {"views": list(views) if views is not None else None, "incremental": incremental}
        done: list[dict[str, Any]] = shaped(
            Materialized,
            self.client.request("POST", "/features/materialize", json=body, timeout=None).json(),
        )
        return done

    def training_sets(self, name: str | None = None) -> list[dict[str, Any]]:
        params = {"name": name} if name else None
        found: list[dict[str, Any]] = shaped(
            TrainingSetInfo,
            self.client.request("GET", "/features/training-sets", params=params).json(),
        )
        return found
