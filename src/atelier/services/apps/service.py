"""The apps service: publishing, using and hosting apps, wired to serving and feedback.

Every entry point (API, portal, CLI, SDK) changes apps through this service, which checks the
acting principal's right first, then writes, then records the audit entry (refusals too), so
that all of them authorize and audit alike. A hosted app's script is replaced by a staged write
and an atomic rename, after the check: a refused or failed deployment leaves the old file.

A hosted app runs with a token of its owner that is scoped (:data:`~atelier.services.auth.
scopes.APP`: read the tables its owner may read, predict), labelled ``app NAME``, made at each
start, renewed while the app's process is supervised (it expires :data:`TOKEN_LIFETIME` after
the last renewal), and revoked in the database when the app is paused, redeployed or deleted,
and at the server's next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from atelier.contract.trees import check_name as check_member
from atelier.contract.trees import unpack
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.services.apps.feedback import Feedback, FeedbackEntry, FeedbackSummary
from atelier.services.apps.form import Field, form_fields, parse_form
from atelier.services.apps.hosting import HostedProcess, Launch, Supervisor
from atelier.services.apps.personal import AppMarks, kind_of
from atelier.services.apps.registry import BUILDERS, AppInfo, Apps, can_manage, check_name
from atelier.services.auth import AuditLog, Principal, Tokens
from atelier.services.auth import scopes as token_scopes
from atelier.services.serving import LoadedModel, ModelServer, PredictionBatch
from atelier.services.serving.personal import TRAINING, PersonalField
from atelier.services.storage import Files
from atelier.services.tracking.references import parse_reference

if TYPE_CHECKING:
    from atelier.services.projects import Projects

log = logging.getLogger(__name__)

#: How long an app's token lives after its last renewal. A token is made at every start and
#: renewed every :data:`RENEW_EVERY` while the app's process is supervised, so it outlives a
#: server that died without revoking it by a day at most (the next start revokes it anyway).
TOKEN_LIFETIME = timedelta(days=1)
RENEW_EVERY = timedelta(hours=1)
#: Code tokens of hosted apps are named ``app NAME on NODE:PID`` (one per server running it).
TOKEN_LABEL = "app "
MAX_SCRIPT_BYTES = 2_000_000
#: How often (at most) a server asks the bucket whether a hosted app's bundle changed.
BUNDLE_CHECK_SECONDS = 5.0
_BUNDLE = re.compile(r"[0-9a-f]{12}")
_DASH = re.compile(r"^\s*(import dash|from dash\b)", re.MULTILINE)


class AppService:
    def __init__(
        self,
        apps: Apps,
        serving: Callable[[], ModelServer],
        feedback: Callable[[], Feedback],
        tokens: Tokens,
        projects: Callable[[], Projects],
        folder: Path,
        logs_dir: Path,
        atelier_url: Callable[[], str],
        audit: AuditLog | None = None,
        bundles: Files | None = None,
    ) -> None:
        self.registry = apps
        #: Hosted apps' folders: ``folder`` here and, with ``[storage]``, the bucket's
        #: ``apps/<name>/<bundle>/`` with ``apps/<name>/CURRENT`` naming the live bundle.
        self.bundles = bundles or Files(folder, None, "apps")
        self._checked: dict[str, float] = {}
        #: One lock per app: fetching one app's bundle holds up no request for another.
        self._bundle_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._serving = serving
        self._feedback = feedback
        self.tokens = tokens
        self._projects = projects
        self.folder = folder
        self.atelier_url = atelier_url
        self.audit = audit or AuditLog(apps.db)
        self.supervisor = Supervisor(self._launch, logs_dir)
        #: This process among several servers of the workspace: each runs its own process
        #: of a hosted app (see docs/team-server.md), with a token of its own.
        self.replica = replica_name()
        #: Fields the owners of generated apps mark as personal data (or not).
        self.marks = AppMarks(folder / ".personal")

    @property
    def serving(self) -> ModelServer:
        return self._serving()

    @property
    def feedback(self) -> Feedback:
        return self._feedback()

    # -- generated apps ------------------------------------------------------------------

    def create(
        self,
        name: str,
        model: str,
        principal: Principal,
        *,
        title: str = "",
        description: str = "",
        client: str | None = None,
    ) -> AppInfo:
        """Publish an app generated from ``model`` (``NAME@ALIAS``): checked to load and to
        have a column signature first."""
        check_name(name)
        with self._audited("app.create", name, principal, client):
            _require_builder(principal)
            ref = parse_reference(model)
            form_fields(self.serving.model(ref))
            app = self.registry.create(
                name,
                "model",
                owner=principal.name,
                title=title or f"{ref.name.replace('_', ' ').capitalize()} predictions",
                description=description,
                model=str(model).strip(),
            )
        self._record("app.create", name, principal, client, {"model": app.model})
        return app

    def model_of(self, app: AppInfo) -> tuple[LoadedModel, list[Field]]:
        if app.model is None:
            raise InvalidInput(f"app {app.name!r} is a hosted {app.kind} app, not a model app")
        model = self.serving.model(parse_reference(app.model))
        return model, form_fields(model, self.personal_fields(app, model))

    def personal_fields(self, app: AppInfo, model: LoadedModel) -> dict[str, PersonalField]:
        """The fields of ``app``'s requests that hold personal data (with the owner's marks)."""
        personal = self.serving.personal
        return personal.fields(model, app.name) if personal is not None else {}

    def mark_personal(
        self,
        name: str,
        field: str,
        kind: str | None,
        principal: Principal,
        *,
        client: str | None = None,
    ) -> dict[str, PersonalField]:
        """Mark ``field`` of generated app ``name`` as personal data of ``kind``; ``kind``
        ``"none"`` (or None) marks it as not personal, ``"auto"`` takes the mark off. The
        app's owner or an admin only; what training recorded cannot be unmarked. Returns the
        app's personal fields."""
        wanted = (kind or "none").strip().lower()
        detail = {"field": field, "kind": wanted}
        with self._audited("app.personal", name, principal, client, detail):
            app = self.registry.get(name)
            if not can_manage(app.owner, principal):
                raise PermissionDenied(
                    f"only the owner of app {name!r} ({app.owner}) or an admin may mark its "
                    "personal fields"
                )
            model, fields = self.model_of(app)
            names = [f.name for f in fields]
            if field not in names:
                raise NotFound(
                    f"app {name!r} has no field {field!r} (its fields: {', '.join(names[:30])})"
                )
            if wanted not in ("none", "auto"):
                wanted = kind_of(wanted)
            current = self.personal_fields(app, model).get(field)
            if wanted == "none" and current is not None and current.source == TRAINING:
                raise InvalidInput(
                    f"field {field!r} holds {current.kind.value} by the tags of the data the "
                    "model was trained on: it stays personal (change the table's tags instead)"
                )
            if wanted == "auto":
                self.marks.clear(name, field)
            else:
                self.marks.set(name, field, None if wanted == "none" else wanted)
            if self.serving.personal is not None:
                self.serving.personal.forget(name)
            found = self.personal_fields(app, model)
        self._record("app.personal", name, principal, client, detail)
        return found

    def predict(
        self,
        app: AppInfo,
        principal: Principal,
        *,
        form: Mapping[str, Any] | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> PredictionBatch:
        """One prediction through the app, from an HTML form or a JSON record."""
        if app.model is None:
            raise InvalidInput(f"app {app.name!r} serves no model")
        if form is not None:
            _, fields = self.model_of(app)
            record = parse_form(fields, form)
        if record is None:
            raise InvalidInput("nothing to predict: send the form's fields")
        return self.serving.predict(
            parse_reference(app.model), [dict(record)], caller=principal.name, app=app.name
        )

    def give_feedback(
        self,
        app: AppInfo,
        principal: Principal,
        prediction_id: str,
        verdict: str,
        *,
        correct_value: str | None = None,
        comment: str = "",
    ) -> FeedbackEntry:
        return self.feedback.submit(
            app,
            prediction_id,
            verdict,
            user=principal.name,
            correct_value=correct_value,
            comment=comment,
        )

    # -- hosted apps ---------------------------------------------------------------------

    def deploy(
        self,
        name: str,
        script: str,
        principal: Principal,
        *,
        project: str | None = None,
        kind: str | None = None,
        filename: str = "app.py",
        title: str = "",
        client: str | None = None,
    ) -> AppInfo:
        """Publish (or replace) a hosted app running ``script`` (the file's text) in the
        environment of ``project``. The server starts it (again) on its next request.

        The caller's right is checked before anything is written: a new name needs a
        scientist or an admin, an existing app its owner or an admin, a project its
        membership. The app's folder is then staged beside the old one and swapped for it
        only once the app's record is written, so that a refusal or a failure leaves the old
        files.
        """
        check_name(name)
        with self._audited("app.deploy", name, principal, client):
            existing = self._may_deploy(name, principal, project)
            _check_script(script, filename)

            def stage(folder: Path) -> str:
                (folder / "app.py").write_text(script, encoding="utf-8")
                return "app.py"

            app = self._publish(name, principal, existing, stage, project, kind, title)
        self._record("app.deploy", name, principal, client, {"kind": app.kind, "project": project})
        return app

    def deploy_folder(
        self,
        name: str,
        archive: IO[bytes],
        principal: Principal,
        *,
        entry: str = "app.py",
        project: str | None = None,
        kind: str | None = None,
        title: str = "",
        client: str | None = None,
    ) -> AppInfo:
        """Publish (or replace) a hosted app from a whole folder, received as a gzip-compressed
        tar ``archive`` (a seekable file), unpacked by :mod:`atelier.contract.trees`'s rules
        (plain files and folders only: no link, device, absolute path or ``..``, within its
        size limits); ``entry`` is the script to run, relative to the folder. The same checks,
        staging and swap as :meth:`deploy`: nothing is unpacked before the caller's right is
        checked, and a refused or broken folder leaves the old one."""
        check_name(name)
        with self._audited("app.deploy", name, principal, client, {"entry": entry}):
            existing = self._may_deploy(name, principal, project)
            try:
                relative = check_member(entry)
            except InvalidInput:
                relative = ""
            if not relative.endswith(".py"):
                raise InvalidInput(f"app entry {entry!r} is not a Python file in the folder")

            def stage(folder: Path) -> str:
                files = unpack(archive, folder)
                if relative not in files:
                    shown = ", ".join(f for f in files if f.endswith(".py")) or "none"
                    raise InvalidInput(
                        f"app entry {relative!r} is not in the folder (its Python files: "
                        f"{shown[:500]}); name it with --entry"
                    )
                target = folder.joinpath(*relative.split("/"))
                try:
                    text = target.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    raise InvalidInput(f"{relative}: not a UTF-8 text file") from None
                _check_script(text, relative)
                return relative

            app = self._publish(name, principal, existing, stage, project, kind, title)
        detail = {"kind": app.kind, "project": project, "entry": relative, "folder": True}
        self._record("app.deploy", name, principal, client, detail)
        return app

    def check_deploy(
        self,
        name: str,
        principal: Principal,
        *,
        project: str | None = None,
        entry: str = "app.py",
        client: str | None = None,
    ) -> None:
        """Refuse (and audit) a deployment ``principal`` may not make, before its folder is
        received: the API calls it before it reads the archive. :meth:`deploy_folder` checks
        again."""
        check_name(name)
        with self._audited("app.deploy", name, principal, client, {"entry": entry}):
            self._may_deploy(name, principal, project)

    def _may_deploy(self, name: str, principal: Principal, project: str | None) -> AppInfo | None:
        """The app deployed under ``name`` (None for a new one), once ``principal`` may
        deploy it (in ``project``'s environment)."""
        _require_builder(principal)
        try:
            existing = self.registry.get(name)
        except NotFound:
            existing = None
        if existing is not None and not can_manage(existing.owner, principal):
            raise PermissionDenied(
                f"only the owner of app {name!r} ({existing.owner}) or an admin may change it"
            )
        if existing is not None and existing.kind == "model":
            raise InvalidInput(f"app {name!r} is a generated model app: choose another name")
        if project is not None:
            # The app runs in the project's environment and folder: for its members only.
            self._projects().require_member(project, principal)
        return existing

    def _publish(
        self,
        name: str,
        principal: Principal,
        existing: AppInfo | None,
        stage: Callable[[Path], str],
        project: str | None,
        kind: str | None,
        title: str,
    ) -> AppInfo:
        """Stage the app's folder with ``stage`` (which returns the entry script's relative
        path), write the app's record, then swap the staged folder for the old one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        staged = self.folder / f".{name}.{token}.staged"
        final = self.folder / name
        replaced = self.folder / f".{name}.{token}.old"
        app: AppInfo | None = None
        swapped = uploaded = published = False
        try:
            staged.mkdir(mode=0o700)
            entry = stage(staged)
            text = staged.joinpath(*entry.split("/")).read_text(encoding="utf-8")
            kind = kind or ("dash" if _DASH.search(text) else "streamlit")
            if kind not in ("streamlit", "dash"):
                raise InvalidInput(f"hosted app kind {kind!r} is not streamlit or dash")
            if self.bundles.shared:  # before the record: it names files every server can get
                uploaded = True
                self.bundles.save(f"{name}/{token}", staged)
            script = str(final.joinpath(*entry.split("/")))
            if existing is None:
                app = self.registry.create(
                    name,
                    kind,
                    owner=principal.name,
                    title=title or name,
                    project=project,
                    script=script,
                )
            else:
                # Checked again in the same transaction as the change.
                changes: dict[str, Any] = {"project": project, "script": script, "kind": kind}
                if title:
                    changes["title"] = title
                app = self.registry.update(name, principal, **changes)
            if final.exists():
                os.replace(final, replaced)
            try:
                os.replace(staged, final)
            except BaseException:
                if replaced.exists():
                    os.replace(replaced, final)
                raise
            swapped = True
            if uploaded:
                self._make_live(name, token)
                published = True
        except BaseException:
            if existing is None and app is not None:  # created, but its files are not there
                self.registry.delete(name, principal)
            if uploaded and not published:
                with contextlib.suppress(Exception):
                    self.bundles.delete(f"{name}/{token}")
            raise
        finally:
            shutil.rmtree(staged, ignore_errors=True)
            if swapped:
                shutil.rmtree(replaced, ignore_errors=True)
        if existing is not None:
            # The running process (if any) still holds the old token: revoke it now; the
            # server restarts the app with a new one on its next request.
            self._revoke(name)
            self.supervisor.stop(name)
        return app

    def start(self, app: AppInfo) -> HostedProcess:
        if app.hosted and self.bundles.shared:
            self._sync_bundle(app.name)
        # Stopping this server's process revokes its token only: other servers' processes
        # of the same app keep theirs.
        return self.supervisor.ensure(app, lambda: self._revoke(app.name, everywhere=False))

    def ready(self, app: AppInfo, timeout: float = 60.0) -> HostedProcess:
        self.start(app)
        return self.supervisor.wait_ready(app, timeout)

    def start_running(self, *, alone: bool = True) -> None:
        """Start every running hosted app, and load the models of generated apps in the
        background, so that first visits do not wait (the server calls this at start-up).

        The tokens of apps started by an earlier server are revoked first: its processes
        are gone, and each app gets a new token when it starts. Not while other servers of
        the workspace run (``alone`` False): their apps' processes hold those tokens."""
        if alone:
            self.tokens.revoke_label(TOKEN_LABEL, prefix=True)
        apps = [app for app in self.registry.list() if app.status == "running"]
        for app in apps:
            if app.hosted:
                self.start(app)
        models = [app.model for app in apps if app.model]
        if models:
            threading.Thread(
                target=self._warm, args=(models,), name="atelier-warm-models", daemon=True
            ).start()

    def _warm(self, models: list[str]) -> None:
        for model in models:
            try:
                self.serving.model(parse_reference(model))
            except Exception as error:  # shown to users when they open the app
                log.warning("could not load model %s: %s", model, error)

    def _launch(self, app: AppInfo) -> Launch:
        if app.script is None:
            raise InvalidInput(f"app {app.name!r} has no script")
        script = Path(app.script)
        # The app's folder (its entry script may sit deeper in it), else the script's.
        root = self.folder / app.name
        if self.bundles.shared and root not in script.parents:
            script = _here(script, app.name, root)
        python, cwd = sys.executable, root if root in script.parents else script.parent
        if app.project:
            project = self._projects().get(app.project)
            if project.python.exists():
                python = str(project.python)
            cwd = project.path
        # Made anew at each start (revoking the one before): scoped, labelled, short-lived.
        info, token = self.tokens.create_for(
            app.owner, self._replica_label(app.name), token_scopes.APP, TOKEN_LIFETIME
        )
        env = {"ATELIER_URL": self.atelier_url().rstrip("/"), "ATELIER_TOKEN": token}
        if app.project:
            env["ATELIER_PROJECT"] = app.project
        return Launch(
            python,
            script,
            cwd,
            env,
            renew=lambda: self.tokens.extend(info.key, TOKEN_LIFETIME),
            renew_every=RENEW_EVERY.total_seconds(),
        )

    # -- bundles in the bucket ---------------------------------------------------------

    def local_script(self, name: str, script: str) -> Path:
        """The app's entry ``script`` (as recorded) in this server's copy of its folder,
        brought from the bucket first when this copy is not the live bundle (the image of
        a hosted app is built from it)."""
        path = Path(script)
        if self.bundles.shared:
            with self._bundle_lock(name):
                self._checked.pop(name, None)
            self._sync_bundle(name)
            root = self.folder / name
            if root not in path.parents:
                path = _here(path, name, root)
        return path

    def _bundle_lock(self, name: str) -> threading.Lock:
        with self._locks_lock:
            return self._bundle_locks.setdefault(name, threading.Lock())

    def _mark(self, name: str) -> Path:
        """This server's note of which bundle its copy of the app's folder is."""
        return self.folder / f".{name}.bundle"

    def _make_live(self, name: str, token: str) -> None:
        """Make bundle ``token`` the app's live one in the bucket; drop the one before."""
        previous = self.bundles.get_text(f"{name}/CURRENT")
        self.bundles.put_text(f"{name}/CURRENT", token)
        self._mark(name).write_text(token, encoding="utf-8")
        if previous and _BUNDLE.fullmatch(previous) and previous != token:
            with contextlib.suppress(Exception):  # unreferenced: harmless if left
                self.bundles.delete(f"{name}/{previous}")

    def _sync_bundle(self, name: str) -> None:
        """Bring the app's live bundle from the bucket when this server's copy is another
        (deployed through another server) or missing; asked at most every
        :data:`BUNDLE_CHECK_SECONDS`. A process running the old copy is stopped."""
        now = time.monotonic()
        with self._bundle_lock(name):
            if now - self._checked.get(name, -BUNDLE_CHECK_SECONDS) < BUNDLE_CHECK_SECONDS:
                return
            self._checked[name] = now
            try:
                current = self.bundles.get_text(f"{name}/CURRENT")
                mark = self._mark(name)
                here = mark.read_text(encoding="utf-8") if mark.exists() else None
                if current is None or not _BUNDLE.fullmatch(current) or current == here:
                    return
                fetched = self.folder / f".{name}.{current}.fetched"
                shutil.rmtree(fetched, ignore_errors=True)
                if self.bundles.load(f"{name}/{current}", fetched) is None:
                    return
                final = self.folder / name
                replaced = self.folder / f".{name}.{current}.old"
                if final.exists():
                    os.replace(final, replaced)
                os.replace(fetched, final)
                mark.write_text(current, encoding="utf-8")
                shutil.rmtree(replaced, ignore_errors=True)
            except Exception:  # this server's copy serves until the bucket answers
                log.warning("app %s: could not check its bundle in the bucket", name, exc_info=True)
                return
        self.supervisor.stop(name)  # a process of the copy before (if any) starts anew

    def _replica_label(self, name: str) -> str:
        return f"{token_label(name)} on {self.replica}"

    def _revoke(self, name: str, *, everywhere: bool = True) -> None:
        """Revoke the app's token here, or (``everywhere``) those of every server's process
        of it and the one of a version that ran one process per workspace."""
        try:
            self.tokens.revoke_label(self._replica_label(name))
            if everywhere:
                self.tokens.revoke_label(token_label(name))
                self.tokens.revoke_label(f"{token_label(name)} on ", prefix=True)
        except Exception as error:  # the database may be gone when the server stops
            log.warning("could not revoke the token of app %s: %s", name, error)

    # -- lifecycle -----------------------------------------------------------------------

    def share(
        self,
        name: str,
        principal: Principal,
        *,
        users: list[str] | None = None,
        everyone: bool | None = None,
        remove: list[str] | None = None,
        client: str | None = None,
    ) -> AppInfo:
        """Share with named users and/or every logged-in user, or stop sharing."""
        detail = {"users": users or [], "everyone": everyone, "remove": remove or []}
        with self._audited("app.share", name, principal, client, detail):
            app = self.registry.share(
                name, principal, users=users, everyone=everyone, remove=remove
            )
        self._record("app.share", name, principal, client, detail)
        return app

    def pause(self, name: str, principal: Principal, *, client: str | None = None) -> AppInfo:
        with self._audited("app.pause", name, principal, client):
            app = self.registry.set_status(name, principal, "paused")
        self.supervisor.stop(name)
        self._revoke(name)
        self._record("app.pause", name, principal, client)
        return app

    def resume(self, name: str, principal: Principal, *, client: str | None = None) -> AppInfo:
        with self._audited("app.resume", name, principal, client):
            app = self.registry.set_status(name, principal, "running")
        if app.hosted:
            self.start(app)
        self._record("app.resume", name, principal, client)
        return app

    def delete(self, name: str, principal: Principal, *, client: str | None = None) -> AppInfo:
        with self._audited("app.delete", name, principal, client):
            app = self.registry.delete(name, principal)
        self.supervisor.stop(name)
        self._revoke(name)
        self.marks.forget(name)
        if self.bundles.shared:
            try:
                self.bundles.delete(name)
            except Exception:  # the app is gone; its files in the bucket are inert
                log.warning("app %s: could not delete its bundle from the bucket", name)
        self._record("app.delete", name, principal, client)
        return app

    def logs(self, name: str, principal: Principal, lines: int = 200) -> str:
        """The app's output: for its owner and admins only (a script may print anything)."""
        app = self.registry.get(name)
        if not can_manage(app.owner, principal):
            raise PermissionDenied(
                f"only the owner of app {name!r} ({app.owner}) or an admin may read its logs"
            )
        return self.supervisor.logs(name, lines)

    def detail(self, name: str, principal: Principal) -> dict[str, Any]:
        """The app as ``principal`` may see it; a generated app with its form and the model
        version it serves now."""
        app = self.registry.for_user(name, principal)
        found = app.as_dict()
        if app.model is not None:
            model, fields = self.model_of(app)
            found["form"] = [f.as_dict() for f in fields]
            found["model_version"] = model.version
            found["personal"] = [p.as_dict() for p in self.personal_fields(app, model).values()]
        return found

    def status(self, name: str, principal: Principal, lines: int = 200) -> dict[str, Any]:
        """A hosted app's last ``lines`` of output and how its process is doing (its owner
        and admins only, as :meth:`logs`)."""
        app = self.registry.get(name)
        text = self.logs(name, principal, max(1, min(lines, 10_000)))
        hosted = self.supervisor.get(app.name)
        return {
            "app": app.name,
            "state": hosted.state if hosted else ("paused" if app.status == "paused" else "idle"),
            "restarts": hosted.restarts if hosted else 0,
            "last_exit": hosted.last_exit if hosted else None,
            "logs": text,
        }

    def feedback_summary(
        self, name: str, principal: Principal, limit: int = 100
    ) -> FeedbackSummary:
        """Agreement per model version, recent comments and entries: for scientists and
        admins (the people who build apps), not the app's viewers."""
        if principal.role not in BUILDERS:
            raise PermissionDenied(f"role {principal.role!r} may not read apps' feedback")
        self.registry.for_user(name, principal)
        return self.feedback.summary(name, limit=max(1, min(limit, 10_000)))

    # -- audit ---------------------------------------------------------------------------

    def _record(
        self,
        action: str,
        name: str,
        principal: Principal,
        client: str | None,
        detail: dict[str, Any] | None = None,
        *,
        success: bool = True,
    ) -> None:
        if principal.label:
            detail = {**(detail or {}), "token": principal.label}
        self.audit.record(
            action,
            actor=principal.name,
            target=name,
            success=success,
            client=client,
            detail=detail,
        )

    @contextmanager
    def _audited(
        self,
        action: str,
        name: str,
        principal: Principal,
        client: str | None,
        detail: dict[str, Any] | None = None,
    ) -> Iterator[None]:
        """Record a refusal (a PermissionDenied) in the audit log, then let it through."""
        try:
            yield
        except PermissionDenied as error:
            refused = {**(detail or {}), "refused": str(error)}
            self._record(action, name, principal, client, refused, success=False)
            raise

    def close(self) -> None:
        self.supervisor.stop_all()


def replica_name() -> str:
    """This server process's name in its apps' token labels: ``node:pid``."""
    from atelier.services.leases import node_name

    return f"{node_name()}:{os.getpid()}"


def token_label(name: str) -> str:
    """The name of app ``name``'s token."""
    return f"{TOKEN_LABEL}{name}"


def _here(script: Path, name: str, root: Path) -> Path:
    """``script``, recorded by a server whose apps folder is elsewhere, in this server's copy
    of the app's folder ``root``."""
    for parent in script.parents:
        if parent.name == name and parent.parent.name == root.parent.name:
            return root / script.relative_to(parent)
    return script


def _check_script(script: str, filename: str) -> None:
    """A clear error for a script that is too large, empty, or not Python."""
    if len(script.encode()) > MAX_SCRIPT_BYTES:
        raise InvalidInput(f"{filename}: the script is over {MAX_SCRIPT_BYTES} bytes")
    if not script.strip():
        raise InvalidInput(f"{filename}: the script is empty")
    try:
        compile(script, filename, "exec")
    except SyntaxError as error:
        raise InvalidInput(
            f"{filename}, line {error.lineno}, column {error.offset}: {error.msg}"
        ) from None


def _require_builder(principal: Principal) -> None:
    if principal.role not in BUILDERS:
        raise PermissionDenied(f"role {principal.role!r} may not publish apps")
