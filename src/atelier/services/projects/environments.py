"""Project environments: add and remove packages with uv, show what is declared and locked.

Every change runs under the project's lock file. ``pyproject.toml`` and ``uv.lock`` are backed
up first; when uv fails (a package that does not exist, a pin that does not resolve, a build
that breaks) both files are put back byte for byte and the environment is synced to the old
lock again, so the project is exactly as it was, and the error carries uv's reason.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.errors import AtelierError, InvalidInput
from atelier.services.projects.access import check_code
from atelier.services.projects.layout import link_to_atelier
from atelier.services.projects.model import (
    Environment,
    LockedPackage,
    Project,
    normalize,
    requirement_name,
)
from atelier.services.projects.uvtool import UvFailed, exclusive, run_uv

if TYPE_CHECKING:
    from atelier.services.auth import Principal
    from atelier.services.projects.projects import Projects

FILES = ("pyproject.toml", "uv.lock")
#: Packages per call: more is almost certainly a mistake (or an attack on the command line).
MAX_PACKAGES = 50


class Environments:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects

    def show(self, name: str, *, by: Principal | None = None) -> Environment:
        """Declared requirements and the exact versions in ``uv.lock``; ``by``: who asks
        (see :meth:`Projects.check_reader`)."""
        return read_environment(self.projects.get(name, by=by))

    def add(
        self,
        name: str,
        packages: Sequence[str],
        principal: Principal,
        *,
        client: str | None = None,
    ) -> Environment:
        """Install ``packages`` (``name``, ``name==1.2``, ``name>=1``...) into the project's
        environment and record them in its ``pyproject.toml`` and ``uv.lock``."""
        check_code(principal, "change environments")
        specs = _check_specs(packages)
        return self._change(name, "add", specs, principal, client)

    def remove(
        self,
        name: str,
        packages: Sequence[str],
        principal: Principal,
        *,
        client: str | None = None,
    ) -> Environment:
        """Uninstall ``packages`` (names) and drop them from the project's requirements."""
        check_code(principal, "change environments")
        specs = _check_specs(packages)
        project = self.projects.require_member(
            name, principal, action="project.env.remove", client=client
        )
        declared = {requirement_name(r) for r in read_environment(project).requirements}
        missing = [s for s in specs if normalize(s) not in declared]
        if missing:
            raise InvalidInput(
                f"project {name!r} does not require {', '.join(missing)} "
                f"(it requires {', '.join(sorted(declared)) or 'nothing'})"
            )
        if "ipykernel" in {normalize(s) for s in specs}:
            raise InvalidInput("ipykernel cannot be removed: the project's notebooks need it")
        return self._change(name, "remove", specs, principal, client)

    def sync(self, name: str, principal: Principal, *, client: str | None = None) -> Environment:
        """Make the environment match ``uv.lock`` again (and re-link Atelier's packages), e.g.
        after the lock was edited by hand or the environment was deleted."""
        check_code(principal, "change environments")
        project = self.projects.require_member(
            name, principal, action="project.env.sync", client=client
        )
        try:
            with exclusive(self.projects.lock(name)):
                _sync(project)
        except UvFailed as exc:
            self.projects.audit.record(
                "project.env.sync", actor=principal.name, target=name, success=False, client=client
            )
            raise InvalidInput(f"could not sync project {name!r} with its uv.lock: {exc}") from None
        self.projects.audit.record(
            "project.env.sync", actor=principal.name, target=name, client=client
        )
        return read_environment(project)

    def _change(
        self,
        name: str,
        verb: str,
        specs: list[str],
        principal: Principal,
        client: str | None,
    ) -> Environment:
        project = self.projects.require_member(
            name, principal, action=f"project.env.{verb}", client=client, detail={"packages": specs}
        )
        with exclusive(self.projects.lock(name)):
            backup = {f: _read(project.path / f) for f in FILES}
            try:
                run_uv(
                    [verb, "--project", str(project.path), "--", *specs],
                    venv=project.venv,
                    cwd=project.path,
                )
                link_to_atelier(project.venv, project.path)
            except BaseException as exc:
                self._restore(project, backup)
                self.projects.audit.record(
                    f"project.env.{verb}",
                    actor=principal.name,
                    target=name,
                    success=False,
                    client=client,
                    detail={"packages": specs},
                )
                if isinstance(exc, UvFailed):
                    what = "add" if verb == "add" else "remove"
                    raise InvalidInput(
                        f"could not {what} {' '.join(specs)} in project {name!r}: {exc} "
                        "(the environment is unchanged)"
                    ) from None
                raise
        environment = read_environment(project)
        self.projects.audit.record(
            f"project.env.{verb}",
            actor=principal.name,
            target=name,
            client=client,
            detail={"packages": specs, "locked": _locked(environment, specs)}
            if verb == "add"
            else {"packages": specs},
        )
        return environment

    @staticmethod
    def _restore(project: Project, backup: dict[str, bytes | None]) -> None:
        for file, content in backup.items():
            path = project.path / file
            if _read(path) == content:
                continue
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        # uv may have installed or removed packages before it failed: sync back to the old
        # lock. When nothing changed this only checks the environment (milliseconds).
        try:
            _sync(project)
        except AtelierError as exc:
            raise AtelierError(
                f"project {project.name!r}: the change failed and the environment could not be "
                f"restored ({exc}); run `atelier env sync --project {project.name}`"
            ) from None


def _sync(project: Project) -> None:
    sync_locked(project, frozen=True)


def sync_locked(project: Project, *, frozen: bool = False) -> None:
    """Install exactly ``uv.lock`` into the environment. ``frozen``: as the lock says, without
    checking it against ``pyproject.toml``; else refuse a lock that does not match it."""
    run_uv(
        ["sync", "--frozen" if frozen else "--locked", "--project", str(project.path)],
        venv=project.venv,
        cwd=project.path,
    )
    link_to_atelier(project.venv, project.path)


def _locked(environment: Environment, specs: list[str]) -> dict[str, str | None]:
    names = [requirement_name(s) for s in specs]
    return {name: environment.version_of(name) for name in names}


def _check_specs(packages: Iterable[str]) -> list[str]:
    specs = [p.strip() for p in packages if p and p.strip()]
    if not specs:
        raise InvalidInput("name at least one package, e.g. `lightgbm` or `six==1.17.0`")
    if len(specs) > MAX_PACKAGES:
        raise InvalidInput(f"too many packages at once: at most {MAX_PACKAGES}")
    for spec in specs:
        if spec.startswith("-"):
            raise InvalidInput(f"{spec!r} is not a package: options cannot be passed to uv")
        if "\n" in spec or "\r" in spec or "\0" in spec:
            raise InvalidInput(f"{spec!r} is not a package requirement")
    return specs


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def read_environment(project: Project) -> Environment:
    """The environment as the project's files describe it (no uv run needed)."""
    try:
        meta: dict[str, Any] = tomllib.loads(
            (project.path / "pyproject.toml").read_text(encoding="utf-8")
        )
    except FileNotFoundError:
        raise AtelierError(f"{project.path / 'pyproject.toml'}: missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise AtelierError(f"{project.path / 'pyproject.toml'}: not valid TOML ({exc})") from None
    table = meta.get("project", {})
    requirements = tuple(str(r) for r in table.get("dependencies", []))
    direct = {requirement_name(r) for r in requirements}
    packages: list[LockedPackage] = []
    lock = project.path / "uv.lock"
    if lock.is_file():
        try:
            locked = tomllib.loads(lock.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise AtelierError(f"{lock}: not valid TOML ({exc})") from None
        for entry in locked.get("package", []):
            if "version" not in entry or entry.get("source", {}).get("virtual"):
                continue  # the project itself
            package = normalize(str(entry["name"]))
            packages.append(LockedPackage(package, str(entry["version"]), package in direct))
    packages.sort(key=lambda p: (not p.direct, p.name))
    return Environment(
        project=project.name,
        python=str(project.python),
        requires_python=str(table.get("requires-python", "")),
        requirements=requirements,
        packages=tuple(packages),
    )
