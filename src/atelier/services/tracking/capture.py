"""Run capture: what a run needs to be reproduced, recorded on every run started from Atelier.

A run started while capture is on (in notebook kernels and jobs, where ``ATELIER_PROJECT`` is
set, or once :func:`enable` was called, e.g. by ``atelier.tracking.start_run``) gets

* tags: ``atelier.user``, ``atelier.project``, ``atelier.profile`` (the compute profile),
  ``atelier.git.commit``/``atelier.git.branch``/``atelier.git.dirty``, ``atelier.python``,
  ``atelier.lock.sha256`` and ``atelier.data_versions`` (JSON: the warehouse tables this process
  read through ``ws.sql``/``ws.table`` and the snapshot each was read at);
* artifacts: ``atelier.lock`` (the project's ``uv.lock``), ``atelier.packages.txt`` (the exact
  version of every package of the running interpreter) and ``atelier.diff`` (``git diff HEAD``
  when the project's work tree has changes).

A model logged while capture is on (``mlflow.<flavour>.log_model``, with or without a run)
gets its environment with its files: :mod:`.environment` (``atelier-environment.json``, a
complete ``requirements.lock``, the tag ``atelier.environment.sha256``); and a scikit-learn
model whose call names no serialization is saved with cloudpickle, as MLflow did by default
before it chose skops (whose default refuses ordinary pipelines: ``numpy.dtype``, tree
predictors). Where it is loaded stays MLflow's choice.

Tags come from an MLflow run-context provider. MLflow has no hook that runs once a run exists,
so the artifacts ride on :meth:`mlflow.MlflowClient.create_run`, wrapped once per process: the
provider leaves them for the run being created in the same thread, the wrapper logs them right
after MLflow creates it. Reads made after a run started update that run's data-versions tag.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

DATA_VERSIONS_TAG = "atelier.data_versions"
CAPTURE_TAG = "atelier.capture"
LOCK_ARTIFACT = "atelier.lock"
PACKAGES_ARTIFACT = "atelier.packages.txt"
DIFF_ARTIFACT = "atelier.diff"
#: A git diff larger than this is cut (the commit and the dirty flag still say what ran).
MAX_DIFF_BYTES = 5_000_000
#: MLflow refuses longer tag values.
MAX_TAG_LENGTH = 8000

_lock = threading.RLock()
_enabled = False
_reads: dict[tuple[str, int | None], None] = {}  # insertion-ordered set
_identity: str | None = None
_pending = threading.local()
_parser: duckdb.DuckDBPyConnection | None = None


# -- switching capture on --------------------------------------------------------------------


def enable(on: bool = True) -> None:
    """Capture runs (and warehouse reads) in this process, in or outside a project."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled or bool(os.environ.get("ATELIER_PROJECT"))


def install() -> None:
    """Register the run-context provider and the artifact hook with MLflow (idempotent)."""
    from mlflow.tracking.context.registry import _run_context_provider_registry

    with _lock:
        if not any(isinstance(p, AtelierRunContext) for p in _run_context_provider_registry):
            _run_context_provider_registry.register(AtelierRunContext)  # type: ignore[no-untyped-call]
    _install_artifact_hook()


def _install_artifact_hook() -> None:
    from mlflow.tracking.client import MlflowClient

    with _lock:
        if not getattr(MlflowClient.create_run, "_atelier_capture", False):
            MlflowClient.create_run = _with_artifacts(MlflowClient.create_run)  # type: ignore[method-assign]
    _install_model_hook()


def _install_model_hook() -> None:
    """Hook MLflow's model logging (``Model.log``) and scikit-learn's default serialization,
    each now if its module is imported, else as soon as it is."""
    for name, action in _MODEL_HOOKS.items():
        module = sys.modules.get(name)
        if module is not None and hasattr(module, _HOOKED_ATTRIBUTE[name]):
            action()
        else:
            with _lock:
                if not any(getattr(f, "name", None) == name for f in sys.meta_path):
                    sys.meta_path.insert(0, _AfterImport(name, action))


def _hook_model_log() -> None:
    Model = sys.modules["mlflow.models.model"].Model

    with _lock:
        if not getattr(Model.log, "_atelier_capture", False):
            Model.log = classmethod(_with_environment(Model.log.__func__))


def _hook_sklearn_format() -> None:
    # From sys.modules: while it is being imported, ``mlflow.sklearn`` is not yet the
    # attribute of ``mlflow`` (there, a lazy loader stands for it).
    flavor: Any = sys.modules["mlflow.sklearn"]
    with _lock:
        default = flavor._get_default_serialization_format
        if not getattr(default, "_atelier_capture", False):
            flavor._get_default_serialization_format = _cloudpickle_by_default(default)


def _cloudpickle_by_default(default: Callable[[], str]) -> Callable[[], str]:
    @functools.wraps(default)
    def wrapper() -> str:
        return "cloudpickle" if enabled() else default()

    wrapper._atelier_capture = True  # type: ignore[attr-defined]
    return wrapper


_MODEL_HOOKS: dict[str, Callable[[], None]] = {
    "mlflow.models.model": _hook_model_log,
    "mlflow.sklearn": _hook_sklearn_format,
}
_HOOKED_ATTRIBUTE = {
    "mlflow.models.model": "Model",
    "mlflow.sklearn": "_get_default_serialization_format",
}


class _AfterImport:
    """Runs ``action`` right after module ``name`` is imported (a meta path finder that lends
    the real loader and wraps its ``exec_module``)."""

    def __init__(self, name: str, action: Callable[[], None]) -> None:
        self.name = name
        self.action = action

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        import importlib.machinery

        with _lock:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if spec is None or run is None:
            return spec
        action = self.action

        def exec_module(module: Any) -> None:
            run(module)
            try:
                action()
            except Exception as error:  # capture must never break an import
                log.warning("run capture: could not hook MLflow's model logging: %s", error)

        loader.exec_module = exec_module  # type: ignore[union-attr]
        return spec


def start_run(**kwargs: Any) -> Any:
    """:func:`mlflow.start_run` with Atelier's run capture on (for this and later runs)."""
    import mlflow

    enable()
    install()
    return mlflow.start_run(**kwargs)


# -- warehouse reads -----------------------------------------------------------------------


@dataclass(frozen=True)
class TableRead:
    """A warehouse table read by this process, at a snapshot (None: unknown, e.g. a source)."""

    table: str
    version: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "version": self.version}


def note_read(sql: str, current_version: Callable[[], int | None]) -> None:
    """Remember the tables ``sql`` read; ``current_version()`` gives the lake's snapshot now
    (called only when a table was read without ``AT (VERSION => n)``)."""
    if not enabled():
        return
    tables = referenced_tables(sql)
    if not tables:
        return
    now: int | None = None
    if any(version is None and not source for _, version, source in tables):
        try:
            now = current_version()
        except Exception as error:  # capture must never break the user's query
            log.warning("could not read the warehouse snapshot for run capture: %s", error)
    with _lock:
        for table, version, source in tables:
            _reads[table, None if source else version if version is not None else now] = None
    _tag_active_run()


def data_versions() -> list[dict[str, Any]]:
    """What :func:`note_read` remembered: ``[{"table", "version"}]``, in the order read."""
    with _lock:
        return [TableRead(table, version).as_dict() for table, version in _reads]


def forget_reads() -> None:
    with _lock:
        _reads.clear()


def referenced_tables(sql: str) -> list[tuple[str, int | None, bool]]:
    """``(name, pinned version, is a source table)`` for each table ``sql`` names.

    The statement is parsed, never bound or run, by DuckDB's own parser. Names are normalised
    to ``schema.table`` for warehouse tables (``lake.`` dropped, ``main`` for bare names) and
    kept as ``source.schema.table`` for the tables of attached sources; CTE names are skipped.
    """
    tree = _parse(sql)
    if tree is None:
        return []
    ctes = set(_cte_names(tree))
    found: dict[tuple[str, int | None, bool], None] = {}
    for node in _walk(tree):
        if node.get("type") != "BASE_TABLE":
            continue
        catalog = str(node.get("catalog_name") or "")
        schema = str(node.get("schema_name") or "")
        table = str(node.get("table_name") or "")
        if not table or (not catalog and not schema and table.lower() in ctes):
            continue
        source = bool(catalog) and catalog.lower() != "lake"
        qualified = f"{schema or 'main'}.{table}"
        name = f"{catalog}.{qualified}" if source else qualified
        found[name, _pinned_version(node.get("at_clause")), source] = None
    return list(found)


def _parse(sql: str) -> dict[str, Any] | None:
    global _parser
    try:
        import duckdb
    except ImportError:
        return None
    with _lock:
        if _parser is None:
            _parser = duckdb.connect()
        try:
            row = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
        except duckdb.Error:
            return None
    tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    return None if tree.get("error") else tree


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            yield item
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _cte_names(tree: dict[str, Any]) -> Iterator[str]:
    for node in _walk(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map") or ():
                if isinstance(entry, dict) and entry.get("key"):
                    yield str(entry["key"]).lower()


def _pinned_version(at_clause: Any) -> int | None:
    if not isinstance(at_clause, dict) or str(at_clause.get("unit", "")).upper() != "VERSION":
        return None
    value = (at_clause.get("expr") or {}).get("value") or {}
    try:
        return None if value.get("is_null") else int(value["value"])
    except (KeyError, TypeError, ValueError):
        return None


def _tag_active_run() -> None:
    """Keep the data-versions tag of a run already going in this thread up to date."""
    if "mlflow" not in sys.modules:
        return
    import mlflow

    run = mlflow.active_run()
    if run is None or CAPTURE_TAG not in run.data.tags:
        return
    try:
        mlflow.MlflowClient().set_tag(run.info.run_id, DATA_VERSIONS_TAG, _versions_tag())
    except Exception as error:
        log.warning("could not update %s of run %s: %s", DATA_VERSIONS_TAG, run.info.run_id, error)


def _versions_tag() -> str:
    versions = data_versions()
    text = json.dumps(versions, separators=(",", ":"))
    while len(text) > MAX_TAG_LENGTH and versions:
        versions = versions[1:]  # the oldest reads go first
        text = json.dumps([*versions, {"table": "…", "version": None}], separators=(",", ":"))
    return text


# -- what a run ran on -----------------------------------------------------------------------


def identity() -> str:
    """The Atelier user this process acts as: the token's user when ``ATELIER_URL`` and
    ``ATELIER_TOKEN`` are set (kernels, jobs), else the workspace's local owner."""
    global _identity
    if _identity is None:
        _identity = _ask_server() or _local_owner()
    return _identity


def remember_identity(name: str) -> None:
    """Set by a client that already knows who it acts as (spares a round trip)."""
    global _identity
    _identity = name


def _ask_server() -> str | None:
    url, token = os.environ.get("ATELIER_URL"), os.environ.get("ATELIER_TOKEN")
    if not url or not token:
        return None
    import httpx

    try:
        response = httpx.get(
            f"{url.rstrip('/')}/api/v1/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
        name = response.json().get("name")
    except (httpx.HTTPError, ValueError) as error:
        log.warning("run capture: could not ask %s who this token belongs to: %s", url, error)
        return None
    return str(name) if name else None


def _local_owner() -> str:
    from atelier.services.auth.owner import owner_name

    return owner_name()


def project_dir(start: Path | None = None) -> Path | None:
    """The project the process works in: the nearest folder from the current one up that
    holds a ``pyproject.toml`` (a uv project keeps its ``uv.lock`` next to it)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def packages() -> list[str]:
    """``name==version`` of every distribution the running interpreter can import, sorted."""
    from importlib.metadata import distributions

    found = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = f"{name}=={dist.version}"
    return [found[key] for key in sorted(found)]


#: MLflow's own git tags: it reads them from the repository around the script that runs (in a
#: notebook kernel, the kernel's launcher), which is not the project's.
MLFLOW_GIT_TAGS = (
    "mlflow.source.git.commit",
    "mlflow.source.git.branch",
    "mlflow.source.git.repoURL",
)


def git_dir(folder: Path) -> Path | None:
    """The git directory of the repository whose work tree is ``folder`` itself (its ``.git``
    folder, or where a ``.git`` file of a worktree or submodule points); ``None`` when
    ``folder`` is not the top of a repository. Never a repository around ``folder``."""
    dot = folder / ".git"
    if dot.is_dir():
        return dot
    if dot.is_file():
        try:
            line = dot.read_text(errors="replace").strip()
        except OSError:
            return None
        if line.startswith("gitdir:"):
            target = Path(line[len("gitdir:") :].strip())
            target = target if target.is_absolute() else folder / target
            return target if target.is_dir() else None
    return None


def _ref(directory: Path, common: Path, name: str) -> str | None:
    """The commit a ref names, from its loose file or ``packed-refs`` (no git process)."""
    for base in (directory, common):
        try:
            text = (base / name).read_text(errors="replace").strip()
        except (OSError, ValueError):
            continue
        if _is_sha(text):
            return text
    try:
        packed = (common / "packed-refs").read_text(errors="replace")
    except OSError:
        return None
    for line in packed.splitlines():
        sha, _, ref = line.partition(" ")
        if ref.strip() == name and _is_sha(sha):
            return sha
    return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def git_head(folder: Path) -> tuple[str, str | None] | None:
    """``(commit, branch)`` of the repository at ``folder``, read from its files: ``None``
    when ``folder`` is not a repository or has no commit yet; branch ``None`` when detached."""
    directory = git_dir(folder)
    if directory is None:
        return None
    common = directory
    try:
        pointer = (directory / "commondir").read_text(errors="replace").strip()
        common = (pointer and (directory / pointer)) or directory
    except OSError:
        pass
    try:
        head = (directory / "HEAD").read_text(errors="replace").strip()
    except OSError:
        return None
    if _is_sha(head):
        return head, None
    if not head.startswith("ref:"):
        return None
    name = head[len("ref:") :].strip()
    if not name.startswith("refs/") or ".." in name.split("/"):
        return None
    commit = _ref(directory, common, name)
    if commit is None:
        return None
    return commit, name.removeprefix("refs/heads/")


def _git(folder: Path, *args: str) -> str | None:
    """Run git on the repository at ``folder`` and no other: its git directory and work tree
    named, no hooks, no fsmonitor, no external diff or text conversion, no optional locks,
    no configuration from the environment."""
    directory = git_dir(folder)
    if directory is None:
        return None
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        GIT_DIR=str(directory),
        GIT_WORK_TREE=str(folder),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_OPTIONAL_LOCKS="0",
        GIT_TERMINAL_PROMPT="0",
        GIT_CEILING_DIRECTORIES=str(folder.parent),
    )
    safe = ["-c", "core.fsmonitor=false", "-c", f"core.hooksPath={os.devnull}"]
    try:
        result = subprocess.run(
            ["git", *safe, *args],
            cwd=folder,
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode(errors="replace")


@dataclass(frozen=True)
class Environment:
    """What a run ran on, gathered at its start."""

    tags: dict[str, str]
    files: dict[str, str]


def gather() -> Environment:
    """Tags and artifact files for a run starting now (see the module docstring)."""
    tags: dict[str, str] = {
        CAPTURE_TAG: uuid.uuid4().hex,
        "atelier.user": identity(),
        "atelier.python": sys.version.split()[0],
        DATA_VERSIONS_TAG: _versions_tag(),
    }
    for variable, tag in (
        ("ATELIER_PROJECT", "atelier.project"),
        ("ATELIER_PROFILE", "atelier.profile"),
    ):
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    files = {PACKAGES_ARTIFACT: "\n".join(packages()) + "\n"}
    folder = project_dir()
    if folder is not None:
        lock = folder / "uv.lock"
        if lock.is_file():
            data = lock.read_bytes()
            tags["atelier.lock.sha256"] = hashlib.sha256(data).hexdigest()
            files[LOCK_ARTIFACT] = data.decode(errors="replace")
        head = git_head(folder)
        if head is not None:
            commit, branch = head
            tags["atelier.git.commit"] = tags["mlflow.source.git.commit"] = commit
            if branch:
                tags["atelier.git.branch"] = tags["mlflow.source.git.branch"] = branch
            diff = _git(folder, "diff", "--no-ext-diff", "--no-textconv", "HEAD", "--", ".") or ""
            tags["atelier.git.dirty"] = "true" if diff else "false"
            if diff:
                if len(diff) > MAX_DIFF_BYTES:
                    diff = diff[:MAX_DIFF_BYTES] + "\n[diff cut at 5 MB]\n"
                files[DIFF_ARTIFACT] = diff
    return Environment(tags, files)


# -- the MLflow side -------------------------------------------------------------------------


class AtelierRunContext:
    """MLflow run-context provider: Atelier's tags on every run started while capture is on.

    MLflow only calls ``in_context()`` and ``tags()``, so this need not subclass its
    ``RunContextProvider`` (which would mean importing MLflow to import this module).
    """

    def __init__(self) -> None:
        # Made by MLflow while ``import mlflow`` runs: a model logged with no run (nothing
        # asks this provider for tags then) still gets its environment.
        if enabled():
            _install_model_hook()

    def in_context(self) -> bool:
        return enabled()

    def tags(self) -> dict[str, str]:
        # Registered through the entry point, MLflow never called install(): the hook must be
        # in place before the create_run that follows in this thread.
        _install_artifact_hook()
        environment = gather()
        # Picked up by the wrapped create_run that follows in this thread.
        _pending.environment = environment
        return environment.tags


def _with_artifacts(create_run: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(create_run)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        environment: Environment | None = getattr(_pending, "environment", None)
        _pending.environment = None
        if environment is not None and "atelier.git.commit" not in environment.tags:
            # The project is no repository: MLflow's git tags would name another one's.
            if len(args) >= 3 and isinstance(args[2], dict):
                args = (*args[:2], _without_git(args[2]), *args[3:])
            elif isinstance(kwargs.get("tags"), dict):
                kwargs["tags"] = _without_git(kwargs["tags"])
        run = create_run(self, *args, **kwargs)
        if (
            environment is not None
            and run.data.tags.get(CAPTURE_TAG) == environment.tags[CAPTURE_TAG]
        ):
            log_files(self, run.info.run_id, environment.files)
        return run

    wrapper._atelier_capture = True  # type: ignore[attr-defined]
    return wrapper


def _without_git(tags: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tags.items() if k not in MLFLOW_GIT_TAGS}


def _with_environment(log_model: Callable[..., Any]) -> Callable[..., Any]:
    """``Model.log`` that records the environment of every model it logs while capture is on."""

    @functools.wraps(log_model)
    def wrapper(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if not enabled():
            return log_model(cls, *args, **kwargs)
        info = log_model(cls, *args, **kwargs)
        try:
            record_environment(info)
        except Exception as error:  # the model is logged: a missing record is a warning
            log.warning("run capture: could not record the environment of a model: %s", error)
        return info

    wrapper._atelier_capture = True  # type: ignore[attr-defined]
    return wrapper


def record_environment(info: Any) -> dict[str, Any]:
    """Store the environment of the model MLflow just logged (``info``: its ``ModelInfo``)
    with its files, and tag it and its run."""
    import tempfile

    import mlflow

    from atelier.services.tracking import environment

    folder = project_dir()
    lock = folder / "uv.lock" if folder is not None else None
    loader = environment.loader_of(info.flavors or {}, getattr(info, "name", None))
    captured = environment.capture(lock_path=lock, loader=loader)
    digest = environment.digest(captured)
    client = mlflow.MlflowClient()
    tags = {"atelier.python": captured["python"]["version"], environment.ENVIRONMENT_TAG: digest}
    model_id = getattr(info, "model_id", None)
    if model_id:
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / environment.ENVIRONMENT_ARTIFACT).write_text(
                json.dumps(captured, indent=1)
            )
            (Path(scratch) / environment.REQUIREMENTS_ARTIFACT).write_text(
                environment.requirements(captured)
            )
            client.log_model_artifacts(model_id, scratch)
        client.set_logged_model_tags(model_id, tags)
    if info.run_id:
        for key, value in tags.items():
            client.set_tag(info.run_id, key, value)
    return captured


def log_files(client: Any, run_id: str, files: dict[str, str]) -> None:
    """Log ``{artifact name: text}`` to run ``run_id``; a failure is a warning, never an error
    (the user's training must not stop because an artifact could not be written)."""
    for name, text in files.items():
        try:
            client.log_text(run_id, text, name)
        except Exception as error:
            log.warning("run capture: could not log %s to run %s: %s", name, run_id, error)
