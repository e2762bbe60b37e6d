"""The model registry: register a run's model, aliases, model cards, loading by reference.

MLflow's registry does the bookkeeping; this service adds what a data scientist asks of it in
Atelier: registering straight from a run id (the model that the run logged), the ``champion``
and ``challenger`` aliases, and a **model card** that gathers in one place the signature, the
run's metrics and parameters, the warehouse table versions it was trained on, its environment
lock, and who registered it when.

A reference names one version: ``NAME@alias``, ``NAME/3`` (version 3) or ``NAME`` (the latest)
(:mod:`.references`); :meth:`ModelRegistry.resolve` turns one into a :class:`VersionInfo` with
the local folder of the model's files, which serving loads. The service talks to MLflow's
backend store directly (in the server, the CLI, the embedded client and serving: no HTTP round
trip); artifacts recorded as ``mlflow-artifacts:/…`` are read from the workspace's artifact
folder, which is where MLflow's artifact proxy keeps them.

Changes (registering, moving and deleting aliases) name the acting :class:`Principal`: the
service checks its rights before any side effect (:mod:`.ownership`: a model's owner, its
project's members and admins; a protected alias only its owner or an admin) and records the
audit entry itself, whichever entry point (API, portal, CLI, SDK) called it.
"""

from __future__ import annotations

import builtins
import json
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from atelier.errors import AtelierError, Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.tracking.capture import (
    DATA_VERSIONS_TAG,
    LOCK_ARTIFACT,
    PACKAGES_ARTIFACT,
)
from atelier.services.tracking.ownership import (
    DEFAULT_PROTECTED_ALIASES,
    PROJECT_TAG,
    REGISTERED_BY_TAG,
    WRITERS,
    Owned,
    Ownership,
)
from atelier.services.tracking.personal import pii_columns
from atelier.services.tracking.references import (
    Reference,
    check_alias,
    check_name,
    parse_reference,
)
from atelier.services.tracking.runs import run_git

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from atelier.backends.metadata import Database
    from atelier.backends.storage import ObjectStore
    from atelier.services.auth import AuditLog, Principal

__all__ = [
    "ModelRegistry",
    "Reference",
    "VersionInfo",
    "load_from",
    "mlflow_client",
    "parse_reference",
]

ALIASES = ("champion", "challenger")
#: The model version tag holding the last container test of its image (JSON, ``"passed"``);
#: written by the containers service (``atelier models test-container``).
CONTAINER_TEST_TAG = "atelier.image.test"
#: The most of a lock file a card carries (the whole file stays in the run).
MAX_LOCK_CHARS = 2_000_000

Flavor = Literal["auto", "pyfunc"]


@dataclass(frozen=True)
class VersionInfo:
    """One resolved model version and the local folder of its files (``path``): its
    ``MLmodel`` (signature, flavors, metadata) and input example are read from there."""

    name: str
    version: int
    path: Path
    run_id: str | None
    description: str
    aliases: tuple[str, ...]
    created_at: datetime | None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def mlmodel(self) -> Path:
        return self.path / "MLmodel"


def mlflow_client(uri: str) -> MlflowClient:
    """An ``MlflowClient`` on the database ``uri`` (tracking and registry), stores opened."""
    import warnings

    from mlflow import MlflowClient

    from atelier.services.tracking.server import mlflow_installed

    if not mlflow_installed():
        raise AtelierError("the model registry needs MLflow: pip install 'atelier[ml]'")
    with warnings.catch_warnings():
        # MLflow 3.17's store still asks SQLAlchemy 2.1 for the deprecated ``noload`` loader
        # while it configures its mappers, once per process.
        warnings.filterwarnings("ignore", message=".*``noload`` loader strategy is deprecated")
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client._tracking_client.store  # noqa: B018 - opening the store configures the mappers
        client._get_registry_client().store  # type: ignore[no-untyped-call]  # noqa: B018
    return client


class ModelRegistry:
    """Registered models of one MLflow backend store (``tracking_uri``)."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        artifacts_dir: Path | None = None,
        db: Database | None = None,
        audit: AuditLog | None = None,
        protected_aliases: Iterable[str] = DEFAULT_PROTECTED_ALIASES,
        tested_aliases: Iterable[str] = (),
        storage: ObjectStore | None = None,
    ) -> None:
        """``db`` knows projects and apps (without it no one is a project member and no app
        serves an alias); ``audit`` records every change (none without it);
        ``tested_aliases`` point only at versions whose container test passed; ``storage``:
        the bucket that holds the artifacts (``mlflow-artifacts:`` URIs) instead of
        ``artifacts_dir``."""
        self.tracking_uri = tracking_uri
        self.artifacts_dir = artifacts_dir
        self.storage = storage
        self.audit = audit
        self.tested_aliases = frozenset(tested_aliases)
        self.owners = Ownership(lambda: self.client, db, protected_aliases)

    @cached_property
    def client(self) -> MlflowClient:
        return mlflow_client(self.tracking_uri)

    # -- changes ------------------------------------------------------------------------------

    def register(
        self,
        run_id: str,
        name: str,
        *,
        by: Principal,
        alias: str | None = None,
        model: str | None = None,
        description: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Register the model that run ``run_id`` logged as a new version of ``name``
        (created on first use, owned by ``by``), optionally pointing ``alias`` at it.
        ``model`` picks one when the run logged several (their names, e.g. ``model``).
        Adding a version to an existing model needs the right to change it. Returns the
        version; ``client`` is the caller's address for the audit log."""
        check_name(name)
        if alias is not None:
            check_alias(alias)
        self.owners.check_writer(by, "register models")
        return self._register(
            self._run(run_id),
            name,
            by=by,
            alias=alias,
            model=model,
            description=description,
            client=client,
        )

    def _register(
        self,
        run: Any,
        name: str,
        *,
        by: Principal,
        alias: str | None,
        model: str | None,
        description: str | None,
        client: str | None,
    ) -> dict[str, Any]:
        """:meth:`register` of a run already read from MLflow (and the arguments checked)."""
        logged = self._logged_model(run, model)
        mlflow = self.client
        from mlflow.exceptions import MlflowException

        protected: list[str] = []
        owned = self._existing(name)
        if owned is None:
            self.owners.check_model_name(by, name)
            tags = {REGISTERED_BY_TAG: by.name}
            project = self.owners.experiment(run.info.experiment_id).project
            if project and self.owners.may_write(by, Owned("", None, project)):
                tags[PROJECT_TAG] = project
            try:
                mlflow.create_registered_model(name, tags=tags)
                owned = Owned(f"model {name!r}", by.name, tags.get(PROJECT_TAG))
            except MlflowException as error:
                if "ALREADY_EXISTS" not in str(error.error_code):
                    raise AtelierError(
                        f"could not create model {name!r}: {error.message}"
                    ) from None
                owned = self.owners.model(name)  # made meanwhile: someone else's rules apply
        self.owners.check_write(by, owned, "add a version to")
        if alias is not None:
            protected = self.owners.check_alias(by, owned, name, alias, f"move {name}@{alias}")
            if alias in self.tested_aliases:
                raise Conflict(
                    f"a new version has no container test yet: register it without "
                    f"--alias {alias}, build and test its image, then move {name}@{alias}"
                )
        with _process_tracking_uri(self.tracking_uri):
            version = mlflow.create_model_version(
                name,
                source=f"models:/{logged.model_id}",
                run_id=run.info.run_id,
                tags={REGISTERED_BY_TAG: by.name},
                description=description,
                model_id=logged.model_id,
            )
        if alias is not None:
            mlflow.set_registered_model_alias(name, alias, str(version.version))
        self._record(
            "model.register",
            by,
            f"{name}/{version.version}",
            client,
            {"run_id": run.info.run_id, "alias": alias, **_protected(protected)},
        )
        return self._version_dict(self.client.get_model_version(name, str(version.version)))

    def may_register_from(self, principal: Principal, run_id: str) -> bool:
        """Whether ``principal`` may register the model of run ``run_id`` from the portal's
        run page: the run's owner (``mlflow.user``, see :mod:`.ownership`) or an admin."""
        if principal.role == "admin":
            return True
        if principal.role not in WRITERS:
            return False
        return self.owners.run(run_id).owner == principal.name

    @staticmethod
    def _may_register(principal: Principal, owner: str | None) -> bool:
        """:meth:`may_register_from`, for a run whose owner is known."""
        return principal.role == "admin" or (principal.role in WRITERS and owner == principal.name)

    def register_from_run(
        self,
        run_id: str,
        name: str,
        *,
        by: Principal,
        model: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """:meth:`register`, for the run's owner or an admin only: someone else's run is
        theirs to register (and to answer for) first."""
        self.owners.check_writer(by, "register models")
        check_name(name)
        run = self._run(run_id)  # a clear error for a malformed or unknown run; read once
        owner = self.owners.run_owner(run)
        if not self._may_register(by, owner):
            raise PermissionDenied(
                f"{by.name} may not register the model of run {run_id} "
                f"(owned by {owner or 'no recorded owner'}): only the run's owner or an admin may"
            )
        return self._register(
            run, name, by=by, alias=None, model=model, description=None, client=client
        )

    def logged_models(self, run_id: str) -> builtins.list[str]:
        """The names of the models run ``run_id`` logged (empty for an unknown run)."""
        try:
            run = self._run(run_id)
        except AtelierError:
            return []
        found = self.client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
        )
        return sorted({m.name for m in found})

    def set_alias(
        self, name: str, alias: str, version: int, *, by: Principal, client: str | None = None
    ) -> dict[str, Any]:
        """Point ``alias`` of model ``name`` at ``version`` (moving it if it pointed elsewhere).
        A protected alias (one an app serves, or a ``tracking.protected_aliases`` one) moves
        only for the model's owner or an admin."""
        check_alias(alias)
        found = self._version(Reference(check_name(name), version=int(version)))
        previous = self.owners.model_aliases(name).get(alias)
        protected = self.owners.check_alias(
            by, self.owners.model(name), name, alias, f"move {name}@{alias}"
        )
        if alias in self.tested_aliases:
            self._check_tested(found, alias)
        self.client.set_registered_model_alias(name, alias, str(found.version))
        self._record(
            "model.alias",
            by,
            f"{name}@{alias}",
            client,
            {
                "version": int(found.version),
                "previous": int(previous) if previous else None,
                **_protected(protected),
            },
        )
        return self._version_dict(self.client.get_model_version(name, str(found.version)))

    def _check_tested(self, version: ModelVersion, alias: str) -> None:
        """Refuse pointing ``alias`` at a version whose image has no passing container test."""
        text = (version.tags or {}).get(CONTAINER_TEST_TAG)
        try:
            passed = bool(json.loads(text).get("passed")) if text else False
        except (ValueError, AttributeError):
            passed = False
        if not passed:
            label = f"{version.name}/{version.version}"
            raise Conflict(
                f"{label} has no passing container test, and {version.name}@{alias} points only "
                f"at tested versions (containers.require_test_for_production): run `atelier "
                f"models build {label}` and `atelier models test-container {label}` first"
            )

    def delete_alias(
        self, name: str, alias: str, *, by: Principal, client: str | None = None
    ) -> None:
        """Remove ``alias`` of model ``name`` (a protected one: its owner or an admin only)."""
        reference = Reference(check_name(name), alias=check_alias(alias))
        found = self._version(reference)  # a clear error for an unknown model or alias
        protected = self.owners.check_alias(
            by, self.owners.model(name), name, alias, f"delete {name}@{alias}"
        )
        self.client.delete_registered_model_alias(name, alias)
        self._record(
            "model.alias.delete",
            by,
            f"{name}@{alias}",
            client,
            {"version": int(found.version), **_protected(protected)},
        )

    def _existing(self, name: str) -> Owned | None:
        try:
            return self.owners.model(name)
        except NotFound:
            return None

    def _record(
        self,
        action: str,
        by: Principal,
        target: str,
        client: str | None,
        detail: dict[str, Any],
    ) -> None:
        if self.audit is not None:
            self.audit.record(
                action, actor=by.name, target=target, client=client or by.via, detail=detail
            )

    # -- reads --------------------------------------------------------------------------------

    def list(self, *, by: Principal | None = None) -> list[dict[str, Any]]:
        """Every registered model: name, latest version, aliases, who registered it, when.
        With ``by``, only for a role that sees models (not viewers)."""
        if by is not None:
            self.owners.check_writer(by, "see registered models")
        from mlflow.store.entities.paged_list import PagedList

        models: builtins.list[Any] = []
        token = None
        while True:
            page: PagedList[Any] = self.client.search_registered_models(
                max_results=1000, page_token=token, order_by=["name ASC"]
            )
            models.extend(page)
            token = page.token
            if not token:
                break
        listed = []
        for model in models:
            latest = max((int(v.version) for v in model.latest_versions or ()), default=None)
            listed.append(
                {
                    "name": model.name,
                    "description": model.description or "",
                    "latest_version": latest,
                    "aliases": {a: int(v) for a, v in (model.aliases or {}).items()},
                    "registered_by": (model.tags or {}).get(REGISTERED_BY_TAG),
                    "created_at": _time(model.creation_timestamp),
                    "updated_at": _time(model.last_updated_timestamp),
                }
            )
        return listed

    def versions(self, name: str, *, by: Principal | None = None) -> builtins.list[dict[str, Any]]:
        """Every version of model ``name``, newest first (``by``: as in :meth:`list`)."""
        if by is not None:
            self.owners.check_writer(by, "see registered models")
        check_name(name)
        self._registered(name)
        found = self.client.search_model_versions(f"name = '{name}'", max_results=10_000)
        return sorted((self._version_dict(v) for v in found), key=lambda v: -int(v["version"]))

    def card(self, reference: str, *, by: Principal | None = None) -> dict[str, Any]:
        """The model card of one version: what it is, how good, what data and environment
        (``by``: as in :meth:`list`)."""
        if by is not None:
            self.owners.check_writer(by, "see registered models")
        version = self._version(parse_reference(reference))
        card = self._version_dict(version)
        card["description"] = version.description or ""
        run = self._run(version.run_id) if version.run_id else None
        model_dir = self._model_location(version)
        card.update(_mlmodel(self._read(model_dir, "MLmodel")))
        captured = self.captured_environment(version)
        if run is None:
            card.update({"metrics": {}, "params": {}, "data_versions": [], "environment": {}})
            card["personal_data"] = {}
            card["environment"].update(captured)
        else:
            tags = run.data.tags
            card["run_name"] = run.info.run_name
            card["experiment_id"] = run.info.experiment_id
            card["metrics"] = dict(sorted(run.data.metrics.items()))
            card["params"] = dict(sorted(run.data.params.items()))
            card["data_versions"] = _json_list(tags.get(DATA_VERSIONS_TAG))
            card["personal_data"] = pii_columns(tags)
            lock = self._read(run.info.artifact_uri, LOCK_ARTIFACT)
            packages = self._read(run.info.artifact_uri, PACKAGES_ARTIFACT)
            git = run_git(tags)
            card["environment"] = {
                "user": tags.get("atelier.user") or tags.get("mlflow.user"),
                "project": tags.get("atelier.project"),
                "profile": tags.get("atelier.profile"),
                "python": tags.get("atelier.python"),
                # The project's commit (MLflow's own tag only on runs Atelier did not capture).
                "git_commit": git.get("commit"),
                "git_dirty": bool(git.get("dirty")),
                "lock_sha256": tags.get("atelier.lock.sha256"),
                "lock": lock[:MAX_LOCK_CHARS] if lock is not None else None,
                "packages": packages.split() if packages is not None else None,
                **captured,
            }
            if captured.get("python_version") and not card["environment"]["python"]:
                card["environment"]["python"] = captured["python_version"]
        card["all_aliases"] = {
            a: int(v) for a, v in (self._registered(version.name).aliases or {}).items()
        }
        return card

    def environment(self, reference: str | Reference) -> dict[str, Any]:
        """The captured environment of one version and what it does not pin (the
        environment part of :meth:`card`)."""
        if isinstance(reference, str):
            reference = parse_reference(reference)
        return self.captured_environment(self._version(reference))

    def captured_environment(self, version: ModelVersion) -> dict[str, Any]:
        """``python_version``, ``loader``, ``environment_sha256``, ``complete_lock`` (name,
        version, where from, hash kind), ``model_imports`` and ``flags`` (what the model's
        files import that the lock does not pin) of a version, from its files."""
        from mlflow.exceptions import MlflowException

        from atelier.services.tracking import environment

        try:
            folder = self._files(version)
        except (AtelierError, OSError, MlflowException):
            return {}  # files this process cannot read: the card shows no environment
        text = (
            (folder / environment.ENVIRONMENT_ARTIFACT).read_text(errors="replace")
            if (folder / environment.ENVIRONMENT_ARTIFACT).is_file()
            else None
        )
        captured = environment.read(text)
        flavors = _flavors(folder)
        imports = environment.model_imports(folder, flavors)
        return {
            "python_version": ((captured or {}).get("python") or {}).get("version"),
            "loader": (captured or {}).get("loader") or environment.loader_of(flavors),
            "environment_sha256": environment.digest(captured) if captured else None,
            "complete_lock": [
                {
                    "name": p.get("name"),
                    "version": p.get("installed") or p.get("version"),
                    "source": p.get("source"),
                    "hash_kind": p.get("hash_kind"),
                }
                for p in (captured or {}).get("packages") or ()
            ]
            if captured
            else None,
            "model_imports": imports,
            "flags": environment.review(captured, imports)
            if captured
            else [
                {
                    "module": None,
                    "package": None,
                    "version": None,
                    "needed_by": [],
                    "problem": "no-environment",
                    "message": "the model was logged without a captured environment: log it "
                    "in a project, a job or atelier.tracking.start_run to record one",
                }
            ],
        }

    def resolve(self, reference: str | Reference) -> VersionInfo:
        """The version ``reference`` names, with the local folder of its files."""
        if isinstance(reference, str):
            reference = parse_reference(reference)
        found = self._version(reference)
        return VersionInfo(
            name=found.name,
            version=int(found.version),
            path=self._files(found),
            run_id=found.run_id,
            description=found.description or "",
            aliases=tuple(found.aliases or ()),
            created_at=(
                datetime.fromtimestamp(found.creation_timestamp / 1000, UTC)
                if found.creation_timestamp
                else None
            ),
            tags=dict(found.tags or {}),
        )

    def local_path(self, reference: str | Reference) -> Path:
        """A local folder holding the files of the referenced model version."""
        return self.resolve(reference).path

    def load(self, reference: str, *, flavor: Flavor = "auto") -> Any:
        """The model itself: its native object (a scikit-learn estimator, …) when MLflow knows
        the flavor, else (or with ``flavor="pyfunc"``) MLflow's generic pyfunc model."""
        return load_from(self.local_path(reference), flavor)

    def run_summary(self, run_id: str | None) -> dict[str, Any]:
        """Metrics and parameters of the run that made a version (empty when it is gone)."""
        if not run_id:
            return {}
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return {}
        return {
            "run_id": run_id,
            "run_name": run.info.run_name,
            "metrics": dict(sorted(run.data.metrics.items())),
            "params": dict(sorted(run.data.params.items())),
        }

    # -- helpers ------------------------------------------------------------------------------

    def _files(self, version: ModelVersion) -> Path:
        """The local folder of a version's model files (downloaded when not on this machine)."""
        location = self._model_location(version)
        local = self._local(location)
        if local is not None:
            return local
        stored = self._in_bucket(location)
        if stored is not None and self.storage is not None:
            folder = Path(tempfile.mkdtemp(prefix="atelier-model-"))
            return self.storage.download_folder(stored, folder)
        import mlflow.artifacts

        target = tempfile.mkdtemp(prefix="atelier-model-")
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=location, dst_path=target, tracking_uri=self.tracking_uri
            )
        )

    def _run(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        if not isinstance(run_id, str) or not re.fullmatch(r"[0-9a-zA-Z_-]{1,64}", run_id):
            raise InvalidInput(f"{run_id!r} is not a run id (32 hex digits, as MLflow shows)")
        try:
            return self.client.get_run(run_id)
        except MlflowException:
            raise NotFound(f"no run {run_id!r} in this workspace's experiments") from None

    def _logged_model(self, run: Any, wanted: str | None) -> Any:
        found = self.client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
        )
        models = [m for m in found if wanted is None or m.name == wanted]
        if not models:
            if wanted is not None and found:
                names = ", ".join(sorted(m.name for m in found))
                raise NotFound(f"run {run.info.run_id} logged no model {wanted!r} (it has {names})")
            raise NotFound(
                f"run {run.info.run_id} logged no model: log one first, e.g. "
                "mlflow.sklearn.log_model(model, name='model')"
            )
        if len(models) > 1:
            named = [m for m in models if m.name == "model"]
            if len(named) != 1:
                names = ", ".join(sorted(m.name for m in models))
                raise Conflict(
                    f"run {run.info.run_id} logged several models ({names}): pick one by name"
                )
            models = named
        return models[0]

    def _registered(self, name: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException:
            raise NotFound(
                f"no registered model {name!r}: register one with "
                f"`atelier models register RUN_ID --name {name}`"
            ) from None

    def _version(self, reference: Reference) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        model = self._registered(reference.name)
        if reference.alias is not None:
            aliases = model.aliases or {}
            if reference.alias not in aliases:
                known = ", ".join(sorted(aliases)) or "none yet"
                raise NotFound(
                    f"model {reference.name!r} has no alias {reference.alias!r} (aliases: "
                    f"{known}); set it with `atelier models alias {reference.name} "
                    f"{reference.alias} VERSION`"
                )
            version = str(aliases[reference.alias])
        elif reference.version is not None:
            version = str(reference.version)
        else:
            versions = [int(v.version) for v in model.latest_versions or ()]
            if not versions:
                raise NotFound(f"model {reference.name!r} has no versions")
            version = str(max(versions))
        try:
            found: ModelVersion = self.client.get_model_version(reference.name, version)
        except MlflowException:
            raise NotFound(f"model {reference.name!r} has no version {version}") from None
        return found

    def _version_dict(self, version: ModelVersion) -> dict[str, Any]:
        tags = version.tags or {}
        return {
            "name": version.name,
            "version": int(version.version),
            "aliases": sorted(version.aliases or ()),
            "run_id": version.run_id,
            "source": version.source,
            "status": version.status,
            "registered_by": tags.get(REGISTERED_BY_TAG) or version.user_id,
            "created_at": _time(version.creation_timestamp),
        }

    def _model_location(self, version: ModelVersion) -> str:
        """The artifact URI of the version's model files."""
        source = str(version.source or "")
        model_id = getattr(version, "model_id", None) or (
            source.removeprefix("models:/") if source.startswith("models:/m-") else None
        )
        if model_id:
            from mlflow.exceptions import MlflowException

            try:
                return str(self.client.get_logged_model(model_id).artifact_location)
            except MlflowException:
                raise NotFound(
                    f"the files of {version.name}/{version.version} are gone (logged model "
                    f"{model_id})"
                ) from None
        return source

    def _local(self, uri: str) -> Path | None:
        """The local folder behind an artifact URI, when it is on this machine."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(uri)
        if parts.scheme == "mlflow-artifacts" and self.storage is not None:
            return None  # in the bucket: see _in_bucket
        if parts.scheme == "mlflow-artifacts" and self.artifacts_dir is not None:
            root = self.artifacts_dir.resolve()
            path = (root / unquote(parts.path).lstrip("/")).resolve()
            if not path.is_relative_to(root):
                raise InvalidInput(f"artifact location {uri!r} leaves the artifact store")
            return path
        if parts.scheme == "file":
            return Path(unquote(parts.path))
        if not parts.scheme and uri.startswith("/"):
            return Path(uri)
        return None

    def _in_bucket(self, uri: str) -> str | None:
        """The s3:// URL behind an ``mlflow-artifacts:`` URI when the artifacts are in the
        ``[storage]`` bucket (where the tracking server keeps them, under ``mlflow``)."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(uri)
        if parts.scheme != "mlflow-artifacts" or self.storage is None:
            return None
        path = unquote(parts.path).strip("/")
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise InvalidInput(f"artifact location {uri!r} leaves the artifact store")
        return self.storage.url("mlflow", path)

    def _read(self, location: str, name: str) -> str | None:
        """The text of artifact ``name`` under ``location``; None when it is not there."""
        local = self._local(location)
        if local is not None:
            path = local / name
            return path.read_text(errors="replace") if path.is_file() else None
        stored = self._in_bucket(location)
        if stored is not None and self.storage is not None:
            return self.storage.read_text(f"{stored}/{name}")
        import mlflow.artifacts
        from mlflow.exceptions import MlflowException

        try:
            with tempfile.TemporaryDirectory() as folder:
                found = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"{location.rstrip('/')}/{name}",
                    dst_path=folder,
                    tracking_uri=self.tracking_uri,
                )
                return Path(found).read_text(errors="replace")
        except (MlflowException, OSError):
            return None


_URI_LOCK = threading.Lock()


@contextmanager
def _process_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's SQL registry store looks logged models up through the process's tracking URI,
    not the client's; point it at ours meanwhile. Only the module variable is swapped (MLflow's
    own ``_use_tracking_uri`` would also unset a user's ``MLFLOW_TRACKING_URI`` afterwards)."""
    from mlflow.tracking._tracking_service import utils

    with _URI_LOCK:
        saved = utils._tracking_uri
        utils._tracking_uri = uri  # type: ignore[assignment]
        try:
            yield
        finally:
            utils._tracking_uri = saved


def load_from(path: Path, flavor: Flavor = "auto") -> Any:
    """Load the MLflow model in folder ``path``."""
    import mlflow.pyfunc

    if flavor not in ("auto", "pyfunc"):
        raise InvalidInput(f"flavor {flavor!r} is not one of auto, pyfunc")
    if flavor == "auto":
        text = (path / "MLmodel").read_text() if (path / "MLmodel").is_file() else ""
        flavors = _mlmodel(text)["flavors"]
        if "sklearn" in flavors:
            import mlflow.sklearn

            return mlflow.sklearn.load_model(str(path))
    return mlflow.pyfunc.load_model(str(path))


def _flavors(folder: Path) -> dict[str, Any]:
    """The flavours section of the ``MLmodel`` file in ``folder`` (empty when unreadable)."""
    import yaml

    path = folder / "MLmodel"
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except (OSError, yaml.YAMLError):
        return {}
    flavors = data.get("flavors") if isinstance(data, dict) else None
    return flavors if isinstance(flavors, dict) else {}


def _mlmodel(text: str | None) -> dict[str, Any]:
    """Signature, flavors and input example name from an ``MLmodel`` file's text."""
    if not text:
        return {"signature": None, "flavors": [], "model_id": None}
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {"signature": None, "flavors": [], "model_id": None}
    signature = data.get("signature") or None
    if signature:
        signature = {
            key: json.loads(value) if isinstance(value, str) else value
            for key, value in signature.items()
            if key in ("inputs", "outputs", "params") and value
        }
    return {
        "signature": signature,
        "flavors": sorted(data.get("flavors") or {}),
        "model_id": data.get("model_id"),
    }


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _protected(reasons: list[str]) -> dict[str, Any]:
    """The audit detail of a change to a protected alias (nothing for another)."""
    return {"protected": reasons} if reasons else {}


def _time(millis: int | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat(timespec="seconds")
