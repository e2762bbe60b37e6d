"""A model image's build context: everything an engine (or a company's CI) needs, offline.

::

    Containerfile        FROM the base image; a venv installed offline from wheels/
    requirements.lock    every wheel of wheels/ with its sha256 (installed with hashes required)
    wheels/              the wheelhouse, downloaded on the host (:mod:`.requirements`)
    tools/               where a build lends uv for the install (:mod:`.installer`)
    model/               the model's files as MLflow saved them
    model-info.json      name, version and run id, for the runtime's answers
    runtime/             the serving runtime (:mod:`.runtime`) and the input schema it checks

The image installs the wheels through a bind mount (``RUN --mount=type=bind``), so they never
become a layer of it; it runs as an unprivileged user (uid 10001), with nothing of the
workspace but the model (no tokens, no settings, no secrets), and its OCI labels say which
model, version, run, data versions and lock it holds.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.errors import InvalidInput
from atelier.services.containers import requirements
from atelier.services.containers.installer import install_step, write_tools

#: The user the runtime runs as inside the image.
USER = "10001:10001"
LABEL_PREFIX = "io.atelier"
INFO_FILE = "model-info.json"


@dataclass(frozen=True)
class Context:
    folder: Path
    tag: str
    labels: dict[str, str]
    lock_sha256: str
    python: str


def default_tag(name: str, version: int) -> str:
    """``atelier-model/<name>:v<version>``, the name lowered to what image names allow."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"
    return f"atelier-model/{slug}:v{version}"


def check_tag(tag: str) -> str:
    if not re.fullmatch(
        r"[a-z0-9]+([._-][a-z0-9]+|/[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
        r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?",
        tag,
    ):
        raise InvalidInput(
            f"{tag!r} is not an image name (lower-case, e.g. team/churn:v3 or "
            "registry.example.org:5000/team/churn:v3)"
        )
    return tag


def check_empty(target: Path) -> None:
    """A build context goes to a new folder or an empty one, nowhere else."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(f"{target} is not an empty folder: give a new one for the context")


def check_base(base: str) -> str:
    """A base image reference: one line of name characters (it goes into ``FROM``)."""
    if not re.fullmatch(r"[A-Za-z0-9][\w./:@-]{0,254}", base):
        raise InvalidInput(
            f"{base!r} is not an image reference (e.g. python:3.11-slim or "
            "registry.example.org/python:3.11-slim)"
        )
    return base


def runtime_files() -> dict[str, Path]:
    """``{path in runtime/: source file}``: the runtime and the pieces of Atelier it imports."""
    import atelier.errors
    import atelier.services.containers.runtime as runtime
    import atelier.services.serving.model_worker as model_worker
    import atelier.services.serving.schema as schema

    return {
        "atelier_runtime.py": Path(runtime.__file__),
        "atelier/errors.py": Path(atelier.errors.__file__),
        "atelier/services/serving/schema.py": Path(schema.__file__),
        "atelier/services/serving/model_worker.py": Path(model_worker.__file__),
    }


def labels_of(
    *,
    name: str,
    version: int,
    run_id: str | None,
    data_versions: Sequence[Mapping[str, Any]],
    environment_sha256: str | None,
    lock_sha256: str,
    lock_source: str,
    base: str,
) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": f"{name} version {version}",
        "org.opencontainers.image.version": str(version),
        "org.opencontainers.image.base.name": base,
        f"{LABEL_PREFIX}.model": name,
        f"{LABEL_PREFIX}.model.version": str(version),
        f"{LABEL_PREFIX}.run-id": run_id or "",
        f"{LABEL_PREFIX}.data-versions": json.dumps(list(data_versions), separators=(",", ":")),
        f"{LABEL_PREFIX}.environment.sha256": environment_sha256 or "",
        f"{LABEL_PREFIX}.lock.sha256": lock_sha256,
        f"{LABEL_PREFIX}.lock.source": lock_source,
    }


def containerfile(
    base: str, python: str, python_full: str | None, labels: Mapping[str, str]
) -> str:
    major, minor = (int(part) for part in python.split(".")[:2])
    check = (
        "import sys; v = sys.version_info[:2]; sys.exit(0 if v == "
        f"({major}, {minor}) else 'this model needs Python {python} (it was trained with "
        f"{python_full or python}); the base image has %d.%d: choose another "
        "containers.base_image' % v)"
    )
    label_lines = " \\\n      ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
    return f"""\
# Made by `atelier models build`: the model, its locked environment, the serving runtime.
FROM {base}
RUN ["python3", "-c", {json.dumps(check)}]
COPY requirements.lock /app/requirements.lock
{install_step("/opt/model-env", "/app/requirements.lock", compile_bytecode=True)}
COPY runtime/ /app/runtime/
COPY {INFO_FILE} /app/{INFO_FILE}
COPY model/ /app/model/
ENV PYTHONPATH=/app/runtime PYTHONDONTWRITEBYTECODE=1 HOME=/tmp \\
    ATELIER_MODEL_DIR=/app/model ATELIER_RUNTIME_PORT=8080
LABEL {label_lines}
USER {USER}
EXPOSE 8080
CMD ["/opt/model-env/bin/python", "-m", "atelier_runtime"]
"""


def write(
    model_dir: Path,
    target: Path,
    *,
    name: str,
    version: int,
    run_id: str | None,
    data_versions: Sequence[Mapping[str, Any]],
    base: str,
    tag: str,
    cache: Path | None = None,
) -> Context:
    """Write the build context of the model in ``model_dir`` to ``target`` (which must not
    exist or be empty): staged in a sibling folder, renamed into place when complete.
    ``cache``: where wheelhouses are kept for the next build of the same requirements."""
    label = f"{name}/{version}"
    check_base(base)
    check_tag(tag)
    check_empty(target)
    plan = requirements.plan(model_dir, label=label)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        lock = requirements.cached_wheelhouse(plan, staged / "wheels", cache, label=label)
        (staged / "requirements.lock").write_text(lock)
        write_tools(staged)
        _copy_model(model_dir, staged / "model")
        for relative, source in runtime_files().items():
            path = staged / "runtime" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
        for package in ("atelier", "atelier/services", "atelier/services/serving"):
            (staged / "runtime" / package / "__init__.py").write_text("")
        info = {"name": name, "version": version, "run_id": run_id}
        (staged / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        lock_sha = hashlib.sha256(lock.encode()).hexdigest()
        labels = labels_of(
            name=name,
            version=version,
            run_id=run_id,
            data_versions=data_versions,
            environment_sha256=plan.environment_sha256,
            lock_sha256=lock_sha,
            lock_source=plan.source,
            base=base,
        )
        (staged / "Containerfile").write_text(
            containerfile(base, plan.python, plan.python_full, labels)
        )
        if target.exists():
            target.rmdir()
        staged.replace(target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return Context(target, tag, labels, lock_sha, plan.python)


def _copy_model(source: Path, target: Path) -> None:
    """The model's files, links left out (a link could point anywhere on the server)."""
    root = source.resolve()
    for path in sorted(source.rglob("*")):
        if path.is_symlink():
            continue
        relative = path.relative_to(source)
        if not (root / relative).resolve().is_relative_to(root):
            continue
        if path.is_dir():
            (target / relative).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative)
    target.mkdir(parents=True, exist_ok=True)
