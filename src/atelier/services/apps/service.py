"""The apps service: publishing, using and hosting apps, wired to serving and feedback."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput, NotFound
from atelier.services.apps.feedback import Feedback, FeedbackEntry
from atelier.services.apps.form import Field, form_fields, parse_form
from atelier.services.apps.hosting import HostedProcess, Launch, Supervisor
from atelier.services.apps.registry import AppInfo, Apps, check_name
from atelier.services.auth import Principal, Tokens
from atelier.services.serving import LoadedModel, ModelServer, PredictionBatch
from atelier.services.tracking.references import parse_reference

if TYPE_CHECKING:
    from atelier.services.projects import Projects

log = logging.getLogger(__name__)

#: Days an app's token lives; a new one is made at every start.
TOKEN_DAYS = 30
MAX_SCRIPT_BYTES = 2_000_000
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
    ) -> None:
        self.registry = apps
        self._serving = serving
        self._feedback = feedback
        self.tokens = tokens
        self._projects = projects
        self.folder = folder
        self.atelier_url = atelier_url
        self.supervisor = Supervisor(self._launch, logs_dir)
        self._token_keys: dict[str, str] = {}

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
    ) -> AppInfo:
        """Publish an app generated from ``model`` (``NAME@ALIAS``): checked to load and to
        have a column signature first."""
        check_name(name)
        ref = parse_reference(model)
        form_fields(self.serving.model(ref))
        return self.registry.create(
            name,
            "model",
            owner=principal.name,
            title=title or f"{ref.name.replace('_', ' ').capitalize()} predictions",
            description=description,
            model=str(model).strip(),
        )

    def model_of(self, app: AppInfo) -> tuple[LoadedModel, list[Field]]:
        if app.model is None:
            raise InvalidInput(f"app {app.name!r} is a hosted {app.kind} app, not a model app")
        model = self.serving.model(parse_reference(app.model))
        return model, form_fields(model)

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
    ) -> AppInfo:
        """Publish (or replace) a hosted app running ``script`` (the file's text) in the
        environment of ``project``. The server starts it (again) on its next request."""
        check_name(name)
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
        kind = kind or ("dash" if _DASH.search(script) else "streamlit")
        if kind not in ("streamlit", "dash"):
            raise InvalidInput(f"hosted app kind {kind!r} is not streamlit or dash")
        if project is not None:
            self._projects().get(project)  # NotFound names the project
        path = self.folder / name / "app.py"
        try:
            existing = self.registry.get(name)
        except NotFound:
            existing = None
        if existing is not None and existing.kind == "model":
            raise InvalidInput(f"app {name!r} is a generated model app: choose another name")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script, encoding="utf-8")
        if existing is None:
            app = self.registry.create(
                name,
                kind,
                owner=principal.name,
                title=title or name,
                project=project,
                script=str(path),
            )
        else:
            app = self.registry.update(name, principal, project=project, script=str(path))
        return app

    def start(self, app: AppInfo) -> HostedProcess:
        return self.supervisor.ensure(app, lambda: self._revoke(app.name))

    def ready(self, app: AppInfo, timeout: float = 60.0) -> HostedProcess:
        self.start(app)
        return self.supervisor.wait_ready(app, timeout)

    def start_running(self) -> None:
        """Start every running hosted app, and load the models of generated apps in the
        background, so that first visits do not wait (the server calls this at start-up)."""
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
        python, cwd = sys.executable, Path(app.script).parent
        if app.project:
            project = self._projects().get(app.project)
            if project.python.exists():
                python = str(project.python)
            cwd = project.path
        self._revoke(app.name)
        info, token = self.tokens.create(app.owner, f"app {app.name}", TOKEN_DAYS)
        self._token_keys[app.name] = info.key
        env = {"ATELIER_URL": self.atelier_url().rstrip("/"), "ATELIER_TOKEN": token}
        if app.project:
            env["ATELIER_PROJECT"] = app.project
        return Launch(python, Path(app.script), cwd, env)

    def _revoke(self, name: str) -> None:
        key = self._token_keys.pop(name, None)
        if key is not None:
            with contextlib.suppress(NotFound):
                self.tokens.revoke(key)

    # -- lifecycle -----------------------------------------------------------------------

    def pause(self, name: str, principal: Principal) -> AppInfo:
        app = self.registry.set_status(name, principal, "paused")
        self.supervisor.stop(name)
        return app

    def resume(self, name: str, principal: Principal) -> AppInfo:
        app = self.registry.set_status(name, principal, "running")
        if app.hosted:
            self.start(app)
        return app

    def delete(self, name: str, principal: Principal) -> AppInfo:
        app = self.registry.delete(name, principal)
        self.supervisor.stop(name)
        return app

    def logs(self, name: str, lines: int = 200) -> str:
        return self.supervisor.logs(name, lines)

    def close(self) -> None:
        self.supervisor.stop_all()
