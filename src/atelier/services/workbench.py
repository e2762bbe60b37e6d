"""The workbench: every service of one workspace, wired once and shared by server and SDK."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from atelier.backends.metadata import Database
from atelier.config import Workspace
from atelier.errors import AuthenticationFailed
from atelier.services.auth import AuditLog, Principal, Sessions, Tokens, Users
from atelier.services.auth.owner import owner_name

if TYPE_CHECKING:
    from atelier.backends.storage import ObjectStore
    from atelier.backends.warehouse import Warehouse
    from atelier.services.activity import Activity, Subjects, Webhooks
    from atelier.services.apps import AppService, Feedback
    from atelier.services.auth.throttle import Throttle
    from atelier.services.catalog import Catalog, Sources
    from atelier.services.catalog.pii import PiiTags
    from atelier.services.containers import Containers
    from atelier.services.containers.apps import AppImages
    from atelier.services.discussion import Discussion
    from atelier.services.features import FeatureStore
    from atelier.services.ingest import Ingest
    from atelier.services.jobs import Jobs
    from atelier.services.leases import LeaseKeeper
    from atelier.services.notebooks import NotebookServers
    from atelier.services.notebooks.shared import SharedServers
    from atelier.services.profile import Profiler
    from atelier.services.projects import Project, Projects
    from atelier.services.query import QueryService
    from atelier.services.query.saved import SavedQueries
    from atelier.services.serving import ModelServer
    from atelier.services.serving.personal import PersonalData
    from atelier.services.tracking import TrackingServer
    from atelier.services.tracking.registry import ModelRegistry


class Workbench:
    def __init__(self, workspace: Workspace, *, migrate: bool = True) -> None:
        self.workspace = workspace
        self.settings = workspace.settings
        # Files holding data or secrets are their owner's only (fixed here for old workspaces).
        workspace.secure()
        self.db = Database(workspace.metadata_url)
        # Audited changes (table versions, registrations, alias moves) become activity,
        # whichever service audits them.
        self.db.audit_listeners.append(lambda entry: self.activity.from_audit(entry))
        if migrate:
            from atelier.services.catalog.credentials import seal_stored

            self.db.migrate()
            # Credentials stored in clear before migration 0009 are sealed now: the migration
            # cannot reach the key, which lives outside the database.
            seal_stored(self.db, workspace.sealer())

    @cached_property
    def users(self) -> Users:
        return Users(self.db, self.settings.auth.password_hash_cost)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.db)

    @cached_property
    def sessions(self) -> Sessions:
        auth = self.settings.auth
        return Sessions(
            self.db, hours=self.settings.server.session_hours, link_minutes=auth.login_link_minutes
        )

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.db)

    # -- discussion and activity --------------------------------------------------------

    @cached_property
    def subjects(self) -> Subjects:
        """What comments and activity are about, and who sees them."""
        from atelier.services.activity import Subjects

        return Subjects(
            self.db,
            catalog=lambda: self.catalog,
            owners=lambda: self.models.owners,
            apps=lambda: self.apps.registry,
        )

    @cached_property
    def activity(self) -> Activity:
        from atelier.services.activity import Activity
        from atelier.services.activity.runs import tracking_in_use

        return Activity(
            self.db,
            self.subjects,
            owners=lambda: self.models.owners,
            notify=lambda ids: self.webhooks.enqueue(ids),
            tracking=lambda: self.models.owners if tracking_in_use(self.workspace) else None,
        )

    @cached_property
    def discussion(self) -> Discussion:
        from atelier.services.discussion import Discussion

        return Discussion(self.db, self.subjects, self.activity, self.audit)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Users' webhooks; the sender thread stops with :meth:`close`."""
        from atelier.services.activity import Webhooks

        return Webhooks(
            self.db,
            lambda: self.activity,
            self.workspace.sealer(),
            self.settings.notifications,
            self.audit,
        )

    @cached_property
    def throttle(self) -> Throttle:
        """Back-off after failed sign-ins and token secrets (see :mod:`.auth.throttle`)."""
        from datetime import timedelta

        from atelier.services.auth.throttle import Throttle

        auth = self.settings.auth
        return Throttle(
            self.db,
            free=auth.free_attempts,
            client_free=auth.client_free_attempts,
            max_lock=timedelta(minutes=auth.max_lock_minutes),
            audit=self.audit,
        )

    # -- data (imported lazily: DuckDB is heavy) ----------------------------------------

    @cached_property
    def storage(self) -> ObjectStore | None:
        """The ``[storage]`` bucket, or None when everything stays on local disk."""
        from atelier.backends.storage import store_from_settings

        return store_from_settings(self.settings.storage)

    @cached_property
    def warehouse(self) -> Warehouse:
        from atelier.backends.warehouse import Warehouse

        config = self.settings.warehouse
        data = self.workspace.data_dir
        storage = self.storage
        default = storage.url("lake") if storage is not None else data / "lake"
        return Warehouse(
            config.catalog_url or data / "lake.sqlite",
            config.data_path or default,
            extension_directory=self.workspace.private_dir / "duckdb_extensions",
            storage=storage,
        )

    @cached_property
    def sources(self) -> Sources:
        from atelier.services.catalog import Sources

        sources = Sources(self.db, self.warehouse, self.workspace.sealer())
        # The tables of a newly attached source are classified for personal data (bounded).
        sources.on_add = lambda name: self.pii_tags.suggest_source(name)
        return sources

    @cached_property
    def catalog(self) -> Catalog:
        from atelier.services.catalog import Catalog

        catalog = Catalog(self.db, self.warehouse, self.sources)
        # Feature views are listed beside the tables they read.
        catalog.listers.append(lambda: self.features.catalog_entries())
        catalog.masking = self.query.masking  # samples are masked as SQL is
        return catalog

    @cached_property
    def query(self) -> QueryService:
        from atelier.services.pii.enforce import SqlMasking
        from atelier.services.pii.grants import grants_of
        from atelier.services.pii.policies import policies_of
        from atelier.services.query import QueryService

        masking = SqlMasking(self.db, policies_of(self), grants_of(self))
        return QueryService(self.db, self.warehouse, self.sources, self.settings.query, masking)

    @cached_property
    def saved_queries(self) -> SavedQueries:
        """Named SQL statements, the owner's or shared (see :mod:`atelier.services.query.saved`)."""
        from atelier.services.query.saved import SavedQueries

        return SavedQueries(self.db)

    @cached_property
    def ingest(self) -> Ingest:
        from atelier.services.ingest import Ingest
        from atelier.services.storage import Files

        uploads = self.workspace.data_dir / "uploads"
        # Files kept between a preview and their upload: in the bucket too, for every server.
        kept = Files(uploads / "incoming", self.storage, "uploads")
        ingest = Ingest(self.db, self.warehouse, uploads, files=kept)
        # The first writer of a table becomes its owner in the catalog.
        ingest.on_write = self.catalog.register_write
        # Columns not seen before are classified for personal data (never failing an upload).
        ingest.on_columns = self.pii_tags.suggest
        return ingest

    @cached_property
    def pii_tags(self) -> PiiTags:
        """The PII tags of columns (see :mod:`atelier.services.catalog.pii`)."""
        from atelier.services.catalog.pii import PiiTags

        return PiiTags(self.db, self.catalog, self.audit)

    @cached_property
    def profiles(self) -> Profiler:
        from atelier.services.profile import Profiler

        return Profiler(self.warehouse, self.sources, self.query.masking)

    @cached_property
    def features(self) -> FeatureStore:
        from atelier.services.features import FeatureStore

        store = FeatureStore(
            self.db,
            self.warehouse,
            self.settings.features,
            self.workspace.root,
            sources=self.sources,
        )
        store.masking = self.query.masking  # features read personal data as SQL does
        store.leases = self.leases  # one materialization of a view at a time, across servers
        return store

    @cached_property
    def projects(self) -> Projects:
        from atelier.services.projects import Projects
        from atelier.services.projects.git import git_host

        return Projects(
            self.db,
            self.workspace.root,
            self.workspace.root / "projects",
            self.workspace.private_dir / "locks",
            self.audit,
            clone_roots=self.settings.projects.clone_roots,
            git_host=git_host(self.settings.server.public_url),
        )

    @cached_property
    def leases(self) -> LeaseKeeper:
        """This process's leases on work that must run once when several servers share the
        workspace (renewed in the background once :meth:`LeaseKeeper.start` ran)."""
        from atelier.services.leases import LeaseKeeper, Leases

        server = self.settings.server
        address = server.internal_url or f"http://{server.host}:{server.port}"
        return LeaseKeeper(Leases(self.db, server.lease_seconds), address=address)

    @cached_property
    def jobs(self) -> Jobs:
        from atelier.services.jobs import Jobs

        return Jobs(
            self.db,
            self.workspace,
            self.tokens,
            self.audit,
            lambda: self.projects,
            models=lambda: self.serving,
        )

    @cached_property
    def tracking_server(self) -> TrackingServer:
        """MLflow's server (started on first use; stopped by :meth:`close`)."""
        from atelier.services.tracking import TrackingServer, TrackingStore

        return TrackingServer(
            TrackingStore.for_workspace(self.workspace),
            run_dir=self.workspace.private_dir / "run",
            log_path=self.workspace.logs_dir / "mlflow.log",
            storage=self.storage,
        )

    @cached_property
    def models(self) -> ModelRegistry:
        """The model registry, on MLflow's store (no server needed: the CLI uses it too)."""
        from atelier.services.tracking import TrackingStore
        from atelier.services.tracking.registry import ModelRegistry

        store = TrackingStore.for_workspace(self.workspace)
        store.prepare()
        return ModelRegistry(
            store.backend_uri,
            artifacts_dir=store.artifacts_dir,
            storage=self.storage,
            db=self.db,
            audit=self.audit,
            protected_aliases=self.settings.tracking.protected_aliases,
            tested_aliases=("production",)
            if self.settings.containers.require_test_for_production
            else (),
        )

    @cached_property
    def notebooks(self) -> NotebookServers:
        """Each user's JupyterLab (started by the gateway on first use; stopped by close)."""
        from atelier.services.notebooks import NotebookServers, server_url
        from atelier.services.projects import EDITING_ROLES
        from atelier.services.projects.git import git_host, identity

        host = git_host(self.settings.server.public_url)

        def kernel_projects(principal: Principal) -> list[Project]:
            # Admins get a kernel for every project, others for the projects they edit:
            # readers see notebooks without running them.
            if principal.role == "admin":
                return self.projects.list(principal)
            return [
                p
                for p in self.projects.list(principal, mine=True)
                if p.role_of(principal.name) in EDITING_ROLES
            ]

        def readonly_projects(principal: Principal) -> list[str]:
            # The others get a read-only kernel that names the project and says why.
            if principal.role == "admin":
                return []
            return [
                p.name
                for p in self.projects.list()
                if p.role_of(principal.name) not in EDITING_ROLES
            ]

        return NotebookServers(
            tokens=self.tokens,
            kernel_projects=kernel_projects,
            folder=self.workspace.private_dir / "notebooks",
            root_dir=self.workspace.root / "projects",
            logs_dir=self.workspace.logs_dir,
            atelier_url=lambda: server_url(self.settings.server),
            idle_minutes=self.settings.notebooks.idle_minutes,
            readonly_projects=readonly_projects,
            # Commits made in JupyterLab's git panel are authored as the Atelier user.
            user_environment=lambda user: identity(user, host),
            leases=self.leases,
        )

    @cached_property
    def shared_notebooks(self) -> SharedServers:
        """Each project's shared JupyterLab, where its members edit together (started by the
        gateway on first use; stopped by close)."""
        from atelier.services.notebooks import server_url
        from atelier.services.notebooks.shared import SharedServers
        from atelier.services.projects.git import git_host, identity

        host = git_host(self.settings.server.public_url)
        return SharedServers(
            tokens=self.tokens,
            project=self.projects.get,
            folder=self.workspace.private_dir / "notebooks-shared",
            logs_dir=self.workspace.logs_dir,
            atelier_url=lambda: server_url(self.settings.server),
            idle_minutes=self.settings.notebooks.idle_minutes,
            user_environment=lambda user: identity(user, host),
            leases=self.leases,
        )

    @cached_property
    def serving(self) -> ModelServer:
        """Registered models served (in-process, or in their own environment when it differs
        from Atelier's); predictions logged to the warehouse."""
        from atelier.services.serving import ModelServer
        from atelier.services.serving.workers import Workers

        server = ModelServer(
            self.models,
            self.warehouse,
            self.workspace.private_dir / "predictions",
            personal=self.personal_data,
            leases=self.leases.leases,
            workers=Workers(
                self.workspace.private_dir / "model-environments",
                self.workspace.logs_dir / "models",
            ),
        )
        server.journal.after.append(lambda: self.feedback.ship())
        return server

    @cached_property
    def containers(self) -> Containers:
        """Images of registered models: build, container test, push."""
        from atelier.services.containers import Containers
        from atelier.services.storage import Files

        work = self.workspace.private_dir / "containers"
        return Containers(
            self.models,
            self.serving,
            self.settings.containers,
            work_dir=work,
            audit=self.audit,
            files=Files(work / "contexts", self.storage, "images"),
        )

    @cached_property
    def app_images(self) -> AppImages:
        """Images of apps: a generated app on its model's image, a hosted one on its project's
        lock (the apps are read through the apps service)."""
        from atelier.services.containers.apps import AppImages

        def form(app: Any) -> tuple[int, list[dict[str, Any]]]:
            model, fields = self.apps.model_of(app)
            return model.version, [field.as_dict() for field in fields]

        return AppImages(
            self.containers,
            app=lambda name: self.apps.registry.get(name),
            form=form,
            projects=lambda: self.projects,
            apps_folder=self.apps.folder,
            local_script=self.apps.local_script,
        )

    @cached_property
    def personal_data(self) -> PersonalData:
        """The personal fields of served models' requests, masked in predictions and feedback."""
        from atelier.services.pii.policies import policies_of
        from atelier.services.serving.personal import PersonalData

        return PersonalData(
            policies_of(self).masker,
            lambda: self.models,
            lambda app: self.apps.marks.get(app),
        )

    @cached_property
    def feedback(self) -> Feedback:
        from atelier.services.apps import Feedback

        return Feedback(
            self.db,
            self.warehouse,
            lambda pid, model: self.serving.find(pid, model),
            lock_path=self.workspace.private_dir / "predictions" / "feedback.lock",
            personal=self.personal_data,
            notify=lambda app, entry: self.activity.feedback_given(app, entry),
        )

    @cached_property
    def apps(self) -> AppService:
        """Generated and hosted apps (hosted ones stopped by :meth:`close`)."""
        from atelier.services.apps import Apps, AppService
        from atelier.services.notebooks import server_url
        from atelier.services.storage import Files

        return AppService(
            Apps(self.db),
            serving=lambda: self.serving,
            feedback=lambda: self.feedback,
            tokens=self.tokens,
            projects=lambda: self.projects,
            folder=self.workspace.data_dir / "apps",
            logs_dir=self.workspace.logs_dir / "apps",
            atelier_url=lambda: server_url(self.settings.server),
            audit=self.audit,
            bundles=Files(self.workspace.data_dir / "apps", self.storage, "apps"),
        )

    def owner(self) -> Principal:
        """The workspace's local owner: the admin that the embedded client and CLI act as
        when no token names someone else (see :meth:`acting`).

        In single-user mode it is created on first use, without a password (it logs in to
        the portal by one-time link). In team mode the CLI acts as this local admin too when
        ATELIER_TOKEN is unset: whoever can read the workspace files controls it anyway.
        """
        user = self.users.ensure(owner_name(), "admin")
        return Principal(user.id, user.name, user.role, "local")

    def acting(self, token: str | None) -> Principal:
        """Who a local client (the CLI, the embedded SDK) acts as.

        With a token (``ATELIER_TOKEN``): the token's user, with that user's role. A token this
        workspace refuses (unknown, wrong, expired, revoked, of a disabled user) is an error,
        never a fall-back to the admin. Without one: the local admin, :meth:`owner`.
        """
        if token is None or not token.strip():
            return self.owner()
        use = self.tokens.authenticate(token.strip())
        if use is None:
            why, _ = self.tokens.refusal(token.strip())
            raise AuthenticationFailed(
                f"ATELIER_TOKEN is not accepted by the workspace {self.workspace.root}: {why}; "
                "set a valid token (atelier tokens create), or unset ATELIER_TOKEN to act as "
                "the local admin"
            )
        return use.principal

    def close(self) -> None:
        if "webhooks" in self.__dict__:
            self.webhooks.stop()
        for servers in ("notebooks", "shared_notebooks"):
            if servers in self.__dict__:
                getattr(self, servers).stop_all()
        if "tracking_server" in self.__dict__:
            self.tracking_server.stop()
        if "apps" in self.__dict__:
            self.apps.close()
        if "serving" in self.__dict__:
            self.serving.close()  # ships the last predictions and feedback
        if "leases" in self.__dict__:
            self.leases.stop()  # hands this server's work over at once
        if "warehouse" in self.__dict__:
            self.warehouse.close()
        self.db.dispose()
