"""What a model image installs: the model's runtime closure, at the versions its lock pins.

A model's captured environment (:mod:`atelier.services.tracking.environment`) is the complete
lock of the process that logged it, notebooks and all. The image needs less: the packages the
model's files import and its flavour's library, MLflow's loader (``mlflow-skinny``: the same
release as the ``mlflow`` of the lock, without the tracking server) and pandas, plus their
dependencies. :func:`plan` names those top-level requirements, pinned to the lock, and takes
the whole lock as constraints, so that every dependency the resolver picks is the version the
model ran with whenever the lock has it.

:func:`wheelhouse` has pip download exactly that set as binary wheels for the image's Python
(no compiler in the image, nothing fetched while it builds), checks each wheel against the
archive hashes the lock recorded, and writes the image's ``requirements.lock``: one line per
wheel with its sha256, installed with ``pip install --no-index --require-hashes``.

A model logged without a captured environment falls back to the ``requirements.txt`` MLflow
wrote next to it (the image then records ``lock = "mlflow-requirements"``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier.errors import AtelierError, InvalidInput
from atelier.services.tracking import environment

#: The distributions that always go in: the loader and the frame the schema builds.
RUNTIME = ("mlflow-skinny", "pandas")
#: Distributions of the lock that stand for MLflow's loader in the image.
MLFLOW = ("mlflow", "mlflow-skinny")
NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
WHEEL = re.compile(r"(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl")
#: How long pip may take to download a wheelhouse.
DOWNLOAD_SECONDS = 1800


@dataclass
class Plan:
    """The image's top-level requirements and the constraints they resolve under."""

    python: str  # "3.11"
    python_full: str | None
    requirements: list[str]
    constraints: list[str]
    #: ``captured`` (the model's atelier-environment.json) or ``mlflow-requirements``.
    source: str
    environment_sha256: str | None
    #: Archive hashes the lock recorded, by normalized name.
    hashes: dict[str, set[str]] = field(default_factory=dict)


def _version(text: Any, where: str) -> str:
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(str(text)))
    except InvalidVersion:
        raise InvalidInput(f"{where}: {text!r} is not a version") from None


def plan(folder: Path, *, label: str) -> Plan:
    """The plan for the model saved in ``folder`` (``label``: ``NAME/VERSION`` for errors)."""
    path = folder / environment.ENVIRONMENT_ARTIFACT
    if not path.is_file():
        return _from_mlflow(folder, label=label)
    where = f"{environment.ENVIRONMENT_ARTIFACT} of {label}"
    try:
        captured = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(
            f"{where} is not readable JSON ({error}): log the model again to capture its "
            "environment"
        ) from None
    if not isinstance(captured, dict) or not isinstance(captured.get("packages"), list):
        raise InvalidInput(f"{where} has no list of packages: log the model again")
    python = (captured.get("python") or {}).get("version")
    if not isinstance(python, str) or not re.fullmatch(r"3\.\d+(\.\d+)?", python):
        raise InvalidInput(f"{where}: the Python version {python!r} is not one like 3.11.9")
    pins: dict[str, str] = {}
    names: dict[str, str] = {}
    hashes: dict[str, set[str]] = {}
    for index, package in enumerate(captured["packages"]):
        if not isinstance(package, Mapping) or not isinstance(package.get("name"), str):
            raise InvalidInput(f"{where}: package {index} has no name")
        name = package["name"]
        if not NAME.fullmatch(name):
            raise InvalidInput(f"{where}: package {index}: {name!r} is not a package name")
        if package.get("local"):
            continue  # the project itself: its code is not what the model loads
        key = environment.normalize(name)
        pins[key] = _version(
            package.get("installed") or package.get("version"), f"{where}: package {name}"
        )
        names[key] = name
        if package.get("hash_kind") == "archive" and not package.get("installed"):
            found = {h for h in package.get("hashes") or () if isinstance(h, str)}
            if found:
                hashes[key] = found
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    imports = environment.model_imports(folder, _flavors(folder))
    missing = [
        flag
        for flag in environment.review(captured, imports, owners=owners)
        if flag["problem"] == "missing"
    ]
    if missing:
        raise InvalidInput(
            f"the environment of {label} does not pin what the model imports: "
            + "; ".join(flag["message"] for flag in missing)
        )
    modules: Mapping[str, str] = captured.get("modules") or {}
    needed = {
        environment.normalize(modules.get(module) or environment.owner_of(module, owners) or module)
        for module in imports
    }
    loader = captured.get("loader") or {}
    if isinstance(loader.get("library"), str):
        needed.add(environment.normalize(loader["library"]))
    needed |= serializers(_flavors(folder))
    needed = {"mlflow-skinny" if n in MLFLOW else n for n in needed} | set(RUNTIME)
    mlflow_version = pins.get("mlflow-skinny") or pins.get("mlflow")
    if mlflow_version is None:
        raise InvalidInput(f"{where} pins no mlflow: the image needs MLflow to load the model")
    pins.setdefault("mlflow-skinny", mlflow_version)
    names.setdefault("mlflow-skinny", "mlflow-skinny")
    requirements = []
    for key in sorted(needed):
        if key not in pins:
            raise InvalidInput(
                f"{where} does not pin {key}, which the model needs: log it again from an "
                "environment that has it"
            )
        requirements.append(f"{names[key]}=={pins[key]}")
    constraints = [f"{names[k]}=={v}" for k, v in sorted(pins.items()) if k not in ("mlflow",)]
    return Plan(
        python=".".join(python.split(".")[:2]),
        python_full=python,
        requirements=requirements,
        constraints=constraints,
        source="captured",
        environment_sha256=environment.digest(captured),
        hashes=hashes,
    )


def _from_mlflow(folder: Path, *, label: str) -> Plan:
    path = folder / "requirements.txt"
    if not path.is_file():
        raise InvalidInput(
            f"{label} has neither a captured environment nor MLflow's requirements.txt: log "
            "it again from a project, a job or atelier.tracking.start_run"
        )
    requirements: list[str] = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)", text)
        if match is None:
            raise InvalidInput(
                f"requirements.txt of {label}, line {number}: {text!r} is not name==version "
                "(an image is built from exact versions only)"
            )
        name, version = match.group(1), _version(match.group(2), f"requirements.txt line {number}")
        if environment.normalize(name) in MLFLOW:
            name = "mlflow-skinny"
        requirements.append(f"{name}=={version}")
    listed = {environment.normalize(r.split("==")[0]) for r in requirements}
    requirements += [name for name in RUNTIME if name not in listed]
    python = _mlmodel_python(folder) or ".".join(map(str, sys.version_info[:3]))
    return Plan(
        python=".".join(python.split(".")[:2]),
        python_full=python,
        requirements=sorted(requirements),
        constraints=[],
        source="mlflow-requirements",
        environment_sha256=None,
    )


def _flavors(folder: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((folder / "MLmodel").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    flavors = data.get("flavors") if isinstance(data, dict) else None
    return flavors if isinstance(flavors, dict) else {}


def serializers(flavors: Mapping[str, Any]) -> set[str]:
    """Distributions a flavour needs to read its files back beyond its own library: skops
    for a model saved with ``serialization_format: skops`` (MLflow's LightGBM and
    scikit-learn flavours), whose files import nothing of skops itself."""
    needed = set()
    for flavor in flavors.values():
        if not isinstance(flavor, Mapping):
            continue
        data = flavor.get("data") or flavor.get("pickled_model") or ""
        if flavor.get("serialization_format") == "skops" or str(data).endswith(".skops"):
            needed.add("skops")
    return needed


def _mlmodel_python(folder: Path) -> str | None:
    version = (_flavors(folder).get("python_function") or {}).get("python_version")
    return str(version) if version else None


def key(plan: Plan) -> str:
    """What identifies a wheelhouse: the Python version, requirements and constraints."""
    text = json.dumps([plan.python, plan.requirements, plan.constraints, plan.source])
    return hashlib.sha256(text.encode()).hexdigest()


def cached_wheelhouse(plan: Plan, target: Path, cache: Path | None, *, label: str) -> str:
    """:func:`wheelhouse`, reusing the wheels a plan with the same :func:`key` downloaded
    before (kept under ``cache``; linked, not copied, where the file system allows). The
    wheels' sha256s in the lock are checked again when the image installs them."""
    if cache is None:
        return wheelhouse(plan, target, label=label)
    kept = cache / key(plan)
    lock_file = kept / "requirements.lock"
    if not lock_file.is_file():
        lock = wheelhouse(plan, target, label=label)
        staged = Path(tempfile.mkdtemp(dir=cache, prefix=".wheels-"))
        try:
            _link_tree(target, staged / "wheels")
            (staged / "requirements.lock").write_text(lock)
            staged.replace(kept)
        except OSError:  # another build kept the same wheels meanwhile
            shutil.rmtree(staged, ignore_errors=True)
        return lock
    _link_tree(kept / "wheels", target)
    return lock_file.read_text()


def _link_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for wheel in source.iterdir():
        try:
            os.link(wheel, target / wheel.name)
        except OSError:
            shutil.copyfile(wheel, target / wheel.name)


def wheelhouse(plan: Plan, target: Path, *, label: str) -> str:
    """Download the plan's wheels into ``target`` and return the image's requirements.lock."""
    target.mkdir(parents=True, exist_ok=True)
    requirements = target.parent / "requirements.in"
    constraints = target.parent / "constraints.txt"
    requirements.write_text("\n".join(plan.requirements) + "\n")
    constraints.write_text("\n".join(plan.constraints) + "\n")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        plan.python,
        "--dest",
        str(target),
        "-r",
        str(requirements),
        "-c",
        str(constraints),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=DOWNLOAD_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise AtelierError(
            f"downloading the wheels of {label} took more than {DOWNLOAD_SECONDS} s"
        ) from None
    if done.returncode != 0:
        raise InvalidInput(
            f"the locked requirements of {label} cannot be downloaded as wheels for Python "
            f"{plan.python}: {_pip_error(done.stderr or done.stdout)}"
        )
    lines = []
    for wheel in sorted(target.glob("*.whl")):
        match = WHEEL.fullmatch(wheel.name)
        if match is None:
            raise AtelierError(f"pip downloaded {wheel.name}, which is not a wheel's name")
        name, version = match.group("name"), match.group("version")
        sha = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
        known = plan.hashes.get(environment.normalize(name))
        if known and sha not in known:
            raise InvalidInput(
                f"the wheel {wheel.name} has {sha}, which is not one of the hashes the lock of "
                f"{label} records for {name}: the index serves other files than the model was "
                "trained with"
            )
        lines.append(f"{name}=={version} --hash={sha}")
    unknown = [p for p in target.iterdir() if not p.name.endswith(".whl")]
    if unknown:
        raise InvalidInput(
            f"{label} needs {unknown[0].name}, which is not a binary wheel: the image installs "
            "wheels only"
        )
    requirements.unlink()
    constraints.unlink()
    header = [
        f"# The environment of {label} as installed in its image (Python {plan.python}).",
        f"# From: {plan.source}; every line is a wheel of the image's wheelhouse.",
    ]
    return "\n".join(header + lines) + "\n"


def _pip_error(output: str) -> str:
    """The lines of pip's output that say what went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR") or "conflict" in line.lower()]
    shown = errors or lines[-3:]
    return " ".join(shown)[:1500] or "pip failed without a message"
