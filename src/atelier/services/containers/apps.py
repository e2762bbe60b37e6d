"""Images of apps: a generated app on its model's image, a hosted app on its project's lock.

Every action names an app and the acting :class:`Principal`; only scientists and admins build
images (in person: a token made for code is refused, as by the routes), and of an app only its
owner or an admin, checked before anything is written. Each action is audited
(``app.image.context``, ``app.image.build``; a refusal as ``app.image.refused``).
What goes into each image is :mod:`.app_context`'s.

The apps themselves are another service's (``atelier.services.apps``, a sibling of this
package): the workbench hands in how to read an app and its form, so that this package needs
nothing of it but the :class:`AppLike` attributes.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.containers import app_context
from atelier.services.containers import base as base_image
from atelier.services.containers import context as contexts
from atelier.services.containers.installer import installer_lent
from atelier.services.tracking.references import Reference, parse_reference

if TYPE_CHECKING:
    from atelier.services.auth import Principal
    from atelier.services.containers.service import Containers
    from atelier.services.projects import Projects

#: Roles that may build images at all (as they publish apps).
BUILDERS = frozenset({"admin", "scientist"})


class AppLike(Protocol):
    """What this service reads of an app (``atelier.services.apps.AppInfo`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def project(self) -> str | None: ...
    @property
    def script(self) -> str | None: ...


#: The model version a generated app serves now, and its form's fields (``Field.as_dict``).
FormOf = Callable[[AppLike], tuple[int, Sequence[Mapping[str, Any]]]]


class AppImages:
    """Images of one workspace's apps, made with the model images' engine and base image."""

    def __init__(
        self,
        containers: Containers,
        *,
        app: Callable[[str], AppLike],
        form: FormOf,
        projects: Callable[[], Projects],
        apps_folder: Path,
        local_script: Callable[[str, str], Path] | None = None,
    ) -> None:
        """``app``: the app of a name (NotFound for none); ``apps_folder``: where hosted apps'
        files are deployed (one folder per app); ``local_script(name, script)``: the entry
        script in this server's copy of the app's folder (from the bucket, with ``[storage]``)."""
        self.containers = containers
        self._app = app
        self._form = form
        self._projects = projects
        self.apps_folder = apps_folder
        self._local_script = local_script

    # -- rights ------------------------------------------------------------------------------

    def _check(self, by: Principal, name: str, action: str, client: str | None) -> AppLike:
        try:
            if by.role not in BUILDERS:
                raise PermissionDenied(
                    f"{by.name} ({by.role}) may not {action} of apps: app images are made by "
                    "an app's owner and admins"
                )
            if by.scopes is not None:  # as the routes: managing apps takes a person
                raise PermissionDenied(
                    f"the token {by.label!r} is for code and may not {action} of apps: it acts "
                    f"for {by.name} with the scopes {', '.join(sorted(by.scopes))}"
                )
            app = self._app(name)
            if by.role != "admin" and app.owner != by.name:
                raise PermissionDenied(
                    f"{by.name} may not {action} of app {name!r} (owned by {app.owner}): app "
                    "images are made by an app's owner and admins"
                )
        except PermissionDenied as error:
            self._record("app.image.refused", by, name, client, doing=action, refused=str(error))
            raise
        return app

    def _record(
        self, action: str, by: Principal, what: str, client: str | None, **detail: Any
    ) -> None:
        audit = self.containers.audit
        if audit is not None:
            success = "refused" not in detail
            audit.record(
                action, actor=by.name, target=what, client=client or by.via, detail=detail,
                success=success,
            )  # fmt: skip

    # -- contexts ----------------------------------------------------------------------------

    def _write(
        self, app: AppLike, target: Path, base: str, tag: str | None
    ) -> tuple[dict[str, Any], str]:
        """Write ``app``'s build context to ``target``; what it is, and the lock's sha256."""
        cache = self.containers.work_dir / "wheelhouses"
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        if app.kind == "model":
            version, fields = self._form(app)
            reference = Reference(parse_reference(str(app.model)).name, version=version)
            info = self.containers.registry.resolve(reference)
            chosen = contexts.check_tag(tag or app_context.default_tag(app.name, info.version))
            made = self.containers._write_context(info, target, base, chosen)
            try:
                labels = app_context.add_page(
                    made.folder, made.labels, app=app.name, title=app.title, model=info.name,
                    version=info.version, fields=fields,
                )  # fmt: skip
            except BaseException:
                shutil.rmtree(made.folder, ignore_errors=True)
                raise
            what = {"model": info.name, "version": info.version, "project": None}
            return {**what, "image": chosen, "folder": str(made.folder), "labels": labels}, (
                made.lock_sha256
            )
        if app.project is None:
            raise InvalidInput(
                f"app {app.name!r} runs in Atelier's own environment, not a project's: deploy "
                "it with --project to build its image from the project's uv.lock"
            )
        folder = self.apps_folder / app.name
        script = Path(app.script or "")
        if self._local_script is not None and app.script:
            script = self._local_script(app.name, app.script)
        if folder not in script.parents:
            raise InvalidInput(f"the script of app {app.name!r} is not in its folder")
        project = self._projects().get(app.project)
        plan, project_lock = app_context.lock_plan(
            project.path, name=project.name, venv=project.venv
        )
        chosen = contexts.check_tag(tag or app_context.default_tag(app.name))
        entry = script.relative_to(folder).as_posix()
        context = app_context.write_hosted(
            folder, target, app=app.name, kind=app.kind, entry=entry, project=project.name,
            plan=plan, project_lock_sha256=project_lock, base=base, tag=chosen, cache=cache,
        )  # fmt: skip
        what = {"model": None, "version": None, "project": project.name}
        found = {**what, "image": chosen, "folder": str(context.folder), "labels": context.labels}
        return found, context.lock_sha256

    def context(
        self,
        name: str,
        target: Path,
        *,
        by: Principal,
        base: str | None = None,
        tag: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Write the build context of app ``name`` to folder ``target``; build nothing."""
        app = self._check(by, name, "write the image context", client)
        made, _ = self._write(app, target, base or self.containers.settings.base_image, tag)
        self._record("app.image.context", by, app.name, client, folder=str(target))
        return {"app": app.name, "kind": app.kind, **made}

    def context_archive(
        self,
        name: str,
        *,
        by: Principal,
        base: str | None = None,
        tag: str | None = None,
        client: str | None = None,
    ) -> tuple[Path, dict[str, Any]]:
        """The build context of app ``name`` as a gzipped tar in a private folder of its own
        (``archive.parent``: the caller removes it once sent), and what :meth:`context` says.
        Rights are checked before anything is written."""
        self._check(by, name, "write the image context", client)
        work = self.containers.work_dir
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = Path(tempfile.mkdtemp(dir=work, prefix="download-"))
        try:
            made = self.context(name, folder / "context", by=by, base=base, tag=tag, client=client)
            archive = folder / "context.tar.gz"
            with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
                tar.add(folder / "context", arcname=".")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return archive, made

    # -- build -------------------------------------------------------------------------------

    def build(
        self,
        name: str,
        *,
        by: Principal,
        engine: str | None = None,
        base: str | None = None,
        tag: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Build app ``name``'s image with the engine."""
        app = self._check(by, name, "build the image", client)
        chosen_base = base or self.containers.settings.base_image
        builder = self.containers.engine(engine)
        if chosen_base == base_image.DEFAULT_BASE:
            base_image.ensure(builder, tar=self.containers.base_tar)
        started = time.perf_counter()
        work = self.containers.work_dir
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=work, prefix="app-context-") as folder:
            made, lock_sha = self._write(app, Path(folder) / "context", chosen_base, tag)
            image = str(made["image"])
            previous = builder.inspect(image).id if builder.exists(image) else None
            with installer_lent(Path(made["folder"])):
                builder.build(Path(made["folder"]), image)
        facts = builder.inspect(image)
        if previous and previous != facts.id:
            builder.remove_if_unused(previous)  # the image this build replaced under its name
        built = {
            "app": app.name,
            "kind": app.kind,
            "model": made["model"],
            "version": made["version"],
            "project": made["project"],
            "image": image,
            "image_id": facts.id,
            "size": facts.size,
            "engine": builder.name,
            "base": chosen_base,
            "lock_sha256": lock_sha,
            "labels": made["labels"],
            "seconds": round(time.perf_counter() - started, 1),
            "built_by": by.name,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._record(
            "app.image.build", by, app.name, client,
            image=image, image_id=facts.id, engine=builder.name,
        )  # fmt: skip
        return built
