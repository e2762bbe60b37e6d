"""Who may change an experiment, a run or a registered model, and which aliases are protected.

Every scientist reads every experiment, run and model; **writes** are for the object's owner,
the members of the project it belongs to, and admins. How the owner and the project are known:

* **experiment**: the ``atelier.owner`` tag, which the ``/mlflow`` gateway sets to the creator
  at ``experiments/create``; its project is the ``atelier.project`` tag, set at creation to the
  project named like the experiment (the experiment jobs of a project log to) or to a project the
  creator names in the tag, in both cases only for a member. Experiments without an owner tag
  (the ``Default`` experiment, experiments made before owners existed, experiments Atelier makes
  itself) are *open*: anyone adds runs to them, while renaming, deleting and tagging them is for
  admins and the members of the project named like them.
* **run**: its ``mlflow.user`` tag (forced to the caller at ``runs/create`` since the gateway
  exists), else MLflow's ``user_id``; its project is its experiment's.
* **registered model** (and its versions and aliases): the ``atelier.registered_by`` tag, forced
  at creation; its project is its ``atelier.project`` tag, set at creation by a member.
* **logged model**: its ``atelier.owner`` tag (forced at creation), else the owner of the run
  that logged it; its project is its experiment's.
* **trace**: traces belong to their experiment: whoever may add runs to it may write them.

These tags are *attribution*: the gateway refuses to set or delete them afterwards, for anyone.

An alias is **protected** when an app serves ``NAME@ALIAS`` or when it is one of the
``tracking.protected_aliases`` (``champion`` by default, the alias production endpoints call):
moving or deleting it, or deleting the model or the version it points at, needs the model's owner
or an admin (project members may not), and is audited.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from atelier.errors import NotFound, PermissionDenied

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from atelier.backends.metadata import Database
    from atelier.services.auth import Principal

OWNER_TAG = "atelier.owner"
PROJECT_TAG = "atelier.project"
USER_TAG = "mlflow.user"
REGISTERED_BY_TAG = "atelier.registered_by"

#: Tags that record who made an object, per kind of object: never changed after creation.
EXPERIMENT_TAGS = frozenset({OWNER_TAG, PROJECT_TAG})
RUN_TAGS = frozenset({USER_TAG})
MODEL_TAGS = frozenset({REGISTERED_BY_TAG, PROJECT_TAG})
VERSION_TAGS = frozenset({REGISTERED_BY_TAG})
LOGGED_MODEL_TAGS = frozenset({OWNER_TAG})

DEFAULT_PROTECTED_ALIASES = ("champion",)
#: How long an experiment's name and tags are taken as read.
EXPERIMENT_SECONDS = 5.0
#: The most runs and experiments remembered.
REMEMBERED = 10_000
#: Viewers never change runs or models, even in a project they belong to.
WRITERS = frozenset({"admin", "scientist"})


@dataclass(frozen=True)
class Owned:
    """One MLflow object as far as rights go: who owns it and which project it belongs to."""

    #: What it is, for messages: ``experiment '3' (churn)``, ``run 1f2e…``, ``model 'churn'``.
    label: str
    owner: str | None
    project: str | None
    #: Anyone may add runs, logged models and traces to it (an experiment without an owner).
    open: bool = False


def _who(owned: Owned) -> str:
    parts = [f"owned by {owned.owner}" if owned.owner else "with no recorded owner"]
    if owned.project:
        parts.append(f"in project {owned.project}")
    return ", ".join(parts)


class Ownership:
    """The rules above, on MLflow's store (``client``) and Atelier's metadata (``db``)."""

    def __init__(
        self,
        client: Callable[[], MlflowClient],
        db: Database | None = None,
        protected_aliases: Iterable[str] = DEFAULT_PROTECTED_ALIASES,
    ) -> None:
        self._client = client
        self.db = db
        self.protected_aliases = frozenset(protected_aliases)
        # Reading a run from MLflow's store costs tens of milliseconds (its metrics come too),
        # and every logged metric asks. A run's owner and experiment never change (the owner
        # tag is fixed); an experiment's tags are fixed too, its name (the project of one
        # without an owner) is re-read after a few seconds.
        self._runs: dict[str, tuple[str | None, str]] = {}
        self._experiments: dict[str, tuple[float, Owned]] = {}

    # -- who belongs where ------------------------------------------------------------------

    def projects_of(self, principal: Principal) -> frozenset[str]:
        """The projects ``principal`` edits (an owner or editor): readers change no runs."""
        if self.db is None:
            return frozenset()
        from atelier.backends.metadata import ProjectMember, ProjectRecord
        from atelier.contract.projects import EDITING_ROLES

        with self.db.session() as session:
            names = session.scalars(
                select(ProjectRecord.name)
                .join(ProjectMember, ProjectMember.project_id == ProjectRecord.id)
                .where(
                    ProjectMember.user_id == principal.user_id,
                    ProjectMember.role.in_(EDITING_ROLES),
                )
            ).all()
        return frozenset(names)

    def project_named(self, name: str | None) -> str | None:
        """``name`` when a project has that name."""
        if not name or self.db is None:
            return None
        from atelier.backends.metadata import ProjectRecord

        with self.db.session() as session:
            found = session.scalar(select(ProjectRecord.name).where(ProjectRecord.name == name))
        return found

    def apps_serving(self, name: str, alias: str) -> list[str]:
        """The apps that serve ``name@alias``."""
        if self.db is None:
            return []
        from atelier.backends.metadata import AppRecord

        with self.db.session() as session:
            found = session.scalars(
                select(AppRecord.name).where(AppRecord.model == f"{name}@{alias}")
            ).all()
        return sorted(found)

    # -- the rules --------------------------------------------------------------------------

    def may_write(self, principal: Principal, owned: Owned) -> bool:
        if principal.role not in WRITERS:
            return False
        if principal.role == "admin":
            return True
        if owned.owner is not None and owned.owner == principal.name:
            return True
        return owned.project is not None and owned.project in self.projects_of(principal)

    def check_writer(self, principal: Principal, action: str) -> None:
        """Refuse ``action`` to roles that never change runs or models (viewers)."""
        if principal.role not in WRITERS:
            raise PermissionDenied(
                f"{principal.name} ({principal.role}) may not {action}: it needs the scientist "
                "or admin role"
            )

    def check_write(self, principal: Principal, owned: Owned, action: str) -> None:
        """Refuse ``action`` on ``owned`` unless ``principal`` may write it."""
        if not self.may_write(principal, owned):
            raise PermissionDenied(
                f"{principal.name} may not {action} {owned.label} ({_who(owned)}): changes are "
                "for its owner, the members of its project and admins"
            )

    def check_add(self, principal: Principal, experiment: Owned, action: str) -> None:
        """Refuse adding a run, logged model or trace to ``experiment`` unless it is open or
        ``principal`` may write it."""
        if experiment.open or self.may_write(principal, experiment):
            return
        raise PermissionDenied(
            f"{principal.name} may not {action} in {experiment.label} ({_who(experiment)}): "
            "use an experiment of your own (mlflow.set_experiment('a new name')) or ask its "
            "owner to add you to its project"
        )

    def check_project(self, principal: Principal, project: str, what: str) -> str:
        """``project`` as the project of a new ``what``: it must exist and ``principal``
        belong to it (admins: any)."""
        if self.project_named(project) is None:
            raise NotFound(f"{what}: no project named {project!r}")
        if principal.role != "admin" and project not in self.projects_of(principal):
            raise PermissionDenied(
                f"{principal.name} may not make {what} in project {project}: only its members may"
            )
        return project

    def apps_using(self, name: str) -> list[tuple[str, str]]:
        """``(app, owner)`` of the apps that serve a version or an alias of model ``name``."""
        if self.db is None:
            return []
        from atelier.backends.metadata import AppRecord

        with self.db.session() as session:
            rows = session.execute(
                select(AppRecord.name, AppRecord.owner, AppRecord.model).where(
                    AppRecord.model.is_not(None)
                )
            ).all()
        return sorted(
            (app, owner)
            for app, owner, model in rows
            if model and re.split(r"[@/]", model, maxsplit=1)[0] == name
        )

    def check_model_name(self, principal: Principal, name: str) -> None:
        """Refuse making a model called ``name`` (new, or by renaming) that apps already serve
        by that name (one deleted meanwhile) to anyone but those apps' owners and admins: the
        apps would serve the newcomer's model."""
        if principal.role == "admin":
            return
        others = [app for app, owner in self.apps_using(name) if owner != principal.name]
        if others:
            raise PermissionDenied(
                f"{principal.name} may not make a model named {name!r}: "
                f"{', '.join('app ' + a for a in others)} serve(s) a model of that name; "
                "choose another name, or ask an admin"
            )

    def protection(self, name: str, alias: str) -> list[str]:
        """Why alias ``alias`` of model ``name`` is protected (empty: it is not)."""
        reasons = [f"app {app} serves {name}@{alias}" for app in self.apps_serving(name, alias)]
        if alias in self.protected_aliases:
            reasons.append(f"{alias!r} is a protected alias (tracking.protected_aliases)")
        return reasons

    def check_alias(
        self, principal: Principal, model: Owned, name: str, alias: str, action: str
    ) -> list[str]:
        """Refuse ``action`` on alias ``alias`` unless ``principal`` may: writers of the
        model for an unprotected alias, its owner or an admin for a protected one. Returns
        why it is protected (to audit)."""
        reasons = self.protection(name, alias)
        if not self.may_write(principal, model):
            raise PermissionDenied(
                f"{principal.name} may not {action}: {model.label} ({_who(model)}) changes "
                "only for its owner, the members of its project and admins"
                + (f"; {'; '.join(reasons)}" if reasons else "")
            )
        if reasons and principal.role != "admin" and model.owner != principal.name:
            raise PermissionDenied(
                f"{principal.name} may not {action}: {'; '.join(reasons)}, so only the model's "
                f"owner ({model.owner or 'none recorded'}) or an admin may change it"
            )
        return reasons

    # -- MLflow's objects -------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        return self._client()

    def experiment(self, experiment_id: str) -> Owned:
        from mlflow.exceptions import MlflowException

        key = str(experiment_id)
        cached = self._experiments.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            found = self.client.get_experiment(key)
        except MlflowException:
            raise NotFound(f"no experiment {experiment_id!r}") from None
        owned = self.experiment_of(found.experiment_id, found.name, found.tags or {})
        _remember(self._experiments, key, (time.monotonic() + EXPERIMENT_SECONDS, owned))
        return owned

    def experiment_of(self, experiment_id: str, name: str, tags: dict[str, str]) -> Owned:
        label = f"experiment {experiment_id} ({name})"
        owner = tags.get(OWNER_TAG)
        if owner:
            return Owned(label, owner, tags.get(PROJECT_TAG) or None)
        return Owned(label, None, self.project_named(name), open=True)

    def run(self, run_id: str) -> Owned:
        owner, experiment_id = self._run_facts(str(run_id))
        return Owned(f"run {run_id}", owner, self.experiment(experiment_id).project)

    def run_experiment(self, run_id: str) -> str:
        return self._run_facts(str(run_id))[1]

    def _run_facts(self, run_id: str) -> tuple[str | None, str]:
        """A run's owner and experiment id."""
        from mlflow.exceptions import MlflowException

        if (known := self._runs.get(run_id)) is not None:
            return known
        try:
            found = self.client.get_run(run_id)
        except MlflowException:
            raise NotFound(f"no run {run_id!r}") from None
        facts = (self.run_owner(found), str(found.info.experiment_id))
        _remember(self._runs, run_id, facts)
        return facts

    def run_owner(self, run: Any) -> str | None:
        """The owner of a run already read from MLflow (remembered, so that checking the
        run again reads nothing)."""
        owner = run.data.tags.get(USER_TAG) or run.info.user_id or None
        _remember(self._runs, str(run.info.run_id), (owner, str(run.info.experiment_id)))
        return owner

    def model(self, name: str) -> Owned:
        from mlflow.exceptions import MlflowException

        try:
            found = self._registered(str(name))
        except MlflowException:
            raise NotFound(f"no registered model {name!r}") from None
        tags = found.tags or {}
        return Owned(
            f"model {found.name!r}", tags.get(REGISTERED_BY_TAG), tags.get(PROJECT_TAG) or None
        )

    def model_aliases(self, name: str) -> dict[str, str]:
        """``{alias: version}`` of model ``name`` (empty when there is no such model)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self._registered(str(name))
        except MlflowException:
            return {}
        return {a: str(v) for a, v in (found.aliases or {}).items()}

    def _registered(self, name: str) -> Any:
        """The registered model (or prompt: ``MlflowClient`` hides prompts from this call)."""
        registry: Any = self.client._get_registry_client()  # type: ignore[no-untyped-call]
        return registry.get_registered_model(name)

    def logged_model(self, model_id: str) -> Owned:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_logged_model(str(model_id))
        except MlflowException:
            raise NotFound(f"no logged model {model_id!r}") from None
        experiment = self.experiment(found.experiment_id)
        owner = (found.tags or {}).get(OWNER_TAG)
        if not owner and found.source_run_id:
            try:
                owner = self.run(found.source_run_id).owner
            except NotFound:
                owner = None
        return Owned(f"logged model {found.model_id}", owner or None, experiment.project)

    def logged_model_experiment(self, model_id: str) -> str:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_logged_model(str(model_id)).experiment_id)
        except MlflowException:
            raise NotFound(f"no logged model {model_id!r}") from None

    def trace_experiment(self, trace_id: str) -> str:
        """The id of the experiment trace ``trace_id`` belongs to."""
        from mlflow.exceptions import MlflowException

        try:
            info: Any = self.client._tracking_client.store.get_trace_info(str(trace_id))
        except MlflowException:
            raise NotFound(f"no trace {trace_id!r}") from None
        return str(info.experiment_id)


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= REMEMBERED:
        cache.clear()
    cache[key] = value
