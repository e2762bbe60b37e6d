"""Build contexts of apps' images: a generated app on its model's image, a hosted app on its
project's locked environment.

A **generated app** (a form from a model's signature) is the model image of the version it
serves (:mod:`.context`: the same wheelhouse, lock, runtime and labels) plus one layer::

    page/                   the app's form: index.html and app.js (:mod:`.app_page`)
    runtime/atelier_app_runtime.py   the model runtime with the page at / (:mod:`.app_runtime`)
    app-info.json           the app's name, kind, model and version

A **hosted app** (Streamlit or Dash) is its deployed folder and its project's environment::

    Containerfile           FROM the base image; a venv installed offline from wheels/
    requirements.lock       every wheel of wheels/ with its sha256 (installed with hashes required)
    wheels/                 the project's uv.lock for this platform, downloaded on the host
    tools/                  where a build lends uv for the install (:mod:`.installer`)
    app/                    the app's files as deployed (links left out)
    app-info.json           the app's name, kind, entry script and project

The project's ``uv.lock`` is read as ``uv sync`` would install it here (``uv export
--frozen``: the packages whose markers hold on Linux), every wheel is checked against the hashes
the lock records, and the image installs them with no index and, as uv installs the project's
own environment, without compiling bytecode (a Dash or Streamlit closure holds thousands of
modules, most never imported: compiling them all would double the build). It runs as the
unprivileged user of model images, gets no token nor any setting of the workspace
(``atelier.connect()`` has nothing to connect to inside it), and answers on port 8080; its
readiness route is the ``io.atelier.app.health`` label (Streamlit's ``/_stcore/health``,
Dash's ``/_dash-layout``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.errors import AtelierError, InvalidInput
from atelier.services.containers import app_page, requirements
from atelier.services.containers.context import (
    LABEL_PREFIX,
    USER,
    check_base,
    check_empty,
    check_tag,
)
from atelier.services.containers.installer import install_step, write_tools
from atelier.services.tracking import environment

INFO_FILE = "app-info.json"
PORT = 8080
#: Where each kind of app answers once it is ready.
HEALTH = {"model": "/health", "streamlit": "/_stcore/health", "dash": "/_dash-layout"}


@dataclass(frozen=True)
class AppContext:
    folder: Path
    tag: str
    labels: dict[str, str]
    lock_sha256: str


def default_tag(app: str, version: int | None = None) -> str:
    """``atelier-app/<app>:v<model version>`` (generated apps) or ``:latest`` (hosted)."""
    slug = re.sub(r"[^a-z0-9]+", "-", app.lower()).strip("-") or "app"
    return f"atelier-app/{slug}:" + (f"v{version}" if version is not None else "latest")


def app_labels(
    *, app: str, kind: str, project: str | None = None, entry: str | None = None
) -> dict[str, str]:
    labels = {
        f"{LABEL_PREFIX}.app": app,
        f"{LABEL_PREFIX}.app.kind": kind,
        f"{LABEL_PREFIX}.app.port": str(PORT),
        f"{LABEL_PREFIX}.app.health": HEALTH[kind],
    }
    if project is not None:
        labels[f"{LABEL_PREFIX}.app.project"] = project
    if entry is not None:
        labels[f"{LABEL_PREFIX}.app.entry"] = entry
    return labels


def _label_lines(labels: Mapping[str, str]) -> str:
    return " \\\n      ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())


# -- generated apps ---------------------------------------------------------------------------


def add_page(
    folder: Path,
    model_labels: Mapping[str, str],
    *,
    app: str,
    title: str,
    model: str,
    version: int,
    fields: Sequence[Mapping[str, Any]],
) -> dict[str, str]:
    """Turn the model image's context in ``folder`` into the app's: the page, the app runtime,
    and a last layer of the Containerfile that serves them. Returns the image's labels."""
    from atelier.services.containers import app_runtime

    app_page.write(
        folder / "page", app=app, title=title, model=model, version=version, fields=fields
    )
    shutil.copyfile(app_runtime.__file__, folder / "runtime" / "atelier_app_runtime.py")
    info = {"app": app, "kind": "model", "model": model, "version": version}
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    labels = {
        **model_labels,
        "org.opencontainers.image.title": f"app {app} ({model} version {version})",
        **app_labels(app=app, kind="model"),
    }
    added = {k: v for k, v in labels.items() if model_labels.get(k) != v}
    layer = f"""
# The app {app}: its form at /, posting to the model's /predict (`atelier apps build`).
COPY page/ /app/page/
COPY {INFO_FILE} /app/{INFO_FILE}
ENV ATELIER_APP_PAGE=/app/page ATELIER_APP={json.dumps(app)}
LABEL {_label_lines(added)}
CMD ["/opt/model-env/bin/python", "-m", "atelier_app_runtime"]
"""
    with (folder / "Containerfile").open("a", encoding="utf-8") as handle:
        handle.write(layer)
    return labels


# -- hosted apps ------------------------------------------------------------------------------


def lock_plan(project: Path, *, name: str, venv: Path) -> tuple[requirements.Plan, str]:
    """What the image of an app of project ``name`` (folder ``project``) installs: its uv.lock
    for this platform, with the lock's hashes; and the sha256 of the uv.lock file."""
    from atelier.services.projects.uvtool import UvFailed, run_uv

    lock = project / "uv.lock"
    where = f"the uv.lock of project {name!r}"
    try:
        data = lock.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(
            f"project {name!r} has no uv.lock: add a package (`atelier env add`) to lock its "
            "environment"
        ) from None
    try:
        locked = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(
            f"{where} is not readable TOML ({error}): run `uv lock` in the project and push "
            "it again"
        ) from None
    packages = locked.get("package")
    if not isinstance(packages, list):
        raise InvalidInput(f"{where} lists no packages: run `uv lock` in the project")
    hashes: dict[str, set[str]] = {}
    for index, package in enumerate(packages):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            raise InvalidInput(f"{where}: package {index} has no name")
        source = package.get("source") or {}
        if source.get("virtual") or source.get("editable"):
            continue  # the project itself: an environment, not a package
        if "registry" not in source:
            kind = next(iter(source), "an unknown source")
            raise InvalidInput(
                f"{where}: {package['name']} comes from {kind}, not a package index: an image "
                "installs wheels from an index only"
            )
        files = [package.get("sdist") or {}, *(package.get("wheels") or [])]
        found = {f["hash"] for f in files if isinstance(f, dict) and isinstance(f.get("hash"), str)}
        hashes[environment.normalize(package["name"])] = found
    try:
        exported = run_uv(
            [
                "export",
                "--frozen",
                "--no-emit-project",
                "--no-hashes",
                "--no-header",
                "--no-annotate",
                "--format",
                "requirements-txt",
                "--project",
                str(project),
            ],
            venv=venv,
            cwd=project,
        ).stdout
    except UvFailed as error:
        raise InvalidInput(f"{where} cannot be read by uv: {error}") from None
    lines = [line.strip() for line in exported.splitlines()]
    pinned = [line for line in lines if line and not line.startswith(("#", "-"))]
    if not pinned:
        raise InvalidInput(f"{where} locks no package: add what the app imports")
    python = platform.python_version()
    plan = requirements.Plan(
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
        python_full=python,
        requirements=pinned,
        constraints=[],
        source="uv.lock",
        environment_sha256=None,
        hashes={k: v for k, v in hashes.items() if v},
    )
    return plan, hashlib.sha256(data).hexdigest()


def hosted_containerfile(
    base: str, python: str, kind: str, entry: str, labels: Mapping[str, str]
) -> str:
    major, minor = (int(part) for part in python.split(".")[:2])
    check = (
        "import sys; v = sys.version_info[:2]; sys.exit(0 if v == "
        f"({major}, {minor}) else 'the project of this app runs Python {major}.{minor}; "
        "the base image has %d.%d: choose another containers.base_image' % v)"
    )
    script = f"/app/{entry}"
    if kind == "streamlit":
        command = [
            "/opt/app-env/bin/python", "-m", "streamlit", "run", script,
            "--server.address=0.0.0.0", f"--server.port={PORT}", "--server.headless=true",
            "--server.fileWatcherType=none", "--server.runOnSave=false",
            "--browser.gatherUsageStats=false", "--global.developmentMode=false",
        ]  # fmt: skip
        extra = ""
    else:
        # Dash's app.run() reads where to listen from these.
        command = ["/opt/app-env/bin/python", script]
        extra = f" \\\n    HOST=0.0.0.0 PORT={PORT} DASH_URL_BASE_PATHNAME=/"
    return f"""\
# Made by `atelier apps build`: a hosted {kind} app and its project's locked environment.
FROM {base}
RUN ["python3", "-c", {json.dumps(check)}]
COPY requirements.lock /opt/requirements.lock
{install_step("/opt/app-env", "/opt/requirements.lock", compile_bytecode=False)}
COPY {INFO_FILE} /opt/{INFO_FILE}
COPY app/ /app/
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp{extra}
LABEL {_label_lines(labels)}
USER {USER}
EXPOSE {PORT}
CMD {json.dumps(command)}
"""


def write_hosted(
    app_folder: Path,
    target: Path,
    *,
    app: str,
    kind: str,
    entry: str,
    project: str,
    plan: requirements.Plan,
    project_lock_sha256: str,
    base: str,
    tag: str,
    cache: Path | None = None,
) -> AppContext:
    """Write the build context of the hosted app in ``app_folder`` to ``target`` (new or
    empty): staged beside it, renamed into place when complete."""
    check_base(base)
    check_tag(tag)
    if kind not in ("streamlit", "dash"):
        raise InvalidInput(f"app {app!r} is a {kind} app, not a hosted Streamlit or Dash app")
    check_empty(target)
    if not (app_folder / entry).is_file():
        raise AtelierError(f"the files of app {app!r} are missing ({entry}): deploy it again")
    label = f"project {project!r}"
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        lock = requirements.cached_wheelhouse(plan, staged / "wheels", cache, label=label)
        (staged / "requirements.lock").write_text(lock)
        write_tools(staged)
        _copy_tree(app_folder, staged / "app")
        info = {"app": app, "kind": kind, "entry": entry, "project": project}
        (staged / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        lock_sha = hashlib.sha256(lock.encode()).hexdigest()
        labels = {
            "org.opencontainers.image.title": f"app {app}",
            "org.opencontainers.image.base.name": base,
            **app_labels(app=app, kind=kind, project=project, entry=entry),
            f"{LABEL_PREFIX}.lock.sha256": lock_sha,
            f"{LABEL_PREFIX}.lock.source": plan.source,
            f"{LABEL_PREFIX}.project.lock.sha256": project_lock_sha256,
        }
        (staged / "Containerfile").write_text(
            hosted_containerfile(base, plan.python, kind, entry, labels)
        )
        if target.exists():
            target.rmdir()
        staged.replace(target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return AppContext(target, tag, labels, lock_sha)


def _copy_tree(source: Path, target: Path) -> None:
    """The app's files; links and bytecode caches left out (a link could point anywhere)."""
    root = source.resolve()
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_symlink() or "__pycache__" in relative.parts:
            continue
        if not (root / relative).resolve().is_relative_to(root):
            continue
        if path.is_dir():
            (target / relative).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
