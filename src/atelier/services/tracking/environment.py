"""A logged model's environment: what recreates it with nothing else, and what it lacks.

When a model is logged while run capture is on (:mod:`.capture`), :func:`capture` records

* the Python that ran (version, implementation, platform);
* a **complete lock**: every package of the project's ``uv.lock`` (exact version, and the
  sha256 of its wheels and sdist as uv recorded them) plus every distribution the process had
  imported from outside that lock (resolved from the imported top-level modules with
  :func:`importlib.metadata.packages_distributions`), at the exact installed version; those
  carry the hashes pip recorded for an archive install (``direct_url.json``) when there are
  some, else only a fingerprint of their installed files (the sha256 of their ``RECORD``),
  which identifies the installation but is not a wheel hash a resolver can check;
* the model's loader: its MLflow flavour, loader module and serialization format;
* ``modules``: which distribution each imported top-level module came from.

It is stored with the model's files as :data:`ENVIRONMENT_ARTIFACT` (JSON) and
:data:`REQUIREMENTS_ARTIFACT` (``name==version --hash=...`` lines, the pip requirements
format), and summarised as tags (``atelier.python``, ``atelier.environment.sha256``).

:func:`model_imports` reads which modules a saved model imports from its files without loading
them (pickle opcodes, a skops file's schema, the flavour's own library), and :func:`review`
flags those the environment does not pin: missing from the complete lock, or pinned only
because they came from the environment Atelier runs in rather than from the project's lock.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickletools
import platform
import re
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

ENVIRONMENT_ARTIFACT = "atelier-environment.json"
REQUIREMENTS_ARTIFACT = "requirements.lock"
ENVIRONMENT_TAG = "atelier.environment.sha256"
FORMAT = 1

#: Where a package of the complete lock came from.
FROM_LOCK = "project-lock"
FROM_ENVIRONMENT = "environment"

#: An MLflow flavour -> the distribution its files need to be loaded.
FLAVOR_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "pytorch": "torch",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "statsmodels": "statsmodels",
    "prophet": "prophet",
    "onnx": "onnx",
    "spacy": "spacy",
    "transformers": "transformers",
}
#: Files of a saved model read for the modules their pickles import.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".cloudpickle", ".joblib", ".pt", ".pth")
SCANNED_SUFFIXES = (*PICKLE_SUFFIXES, ".skops")
#: Larger model files are not scanned (their flavour's library is still checked).
MAX_SCAN_BYTES = 1024 * 1024 * 1024
#: A skops file whose schema unpacks to more is not read.
MAX_SCHEMA_BYTES = 64 * 1024 * 1024


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- capturing ---------------------------------------------------------------------------------


def python_info() -> dict[str, str]:
    return {
        "version": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": f"{sys.platform}-{platform.machine()}",
    }


def project_lock(path: Path | None) -> dict[str, dict[str, Any]]:
    """``{normalized name: {"name", "version", "hashes", "source"}}`` of a ``uv.lock``; empty
    when there is none or it cannot be read."""
    if path is None or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for package in data.get("package") or ():
        if not isinstance(package, Mapping) or not isinstance(package.get("name"), str):
            continue
        hashes = [
            str(item["hash"])
            for item in [*(package.get("wheels") or ()), package.get("sdist") or {}]
            if isinstance(item, Mapping) and isinstance(item.get("hash"), str)
        ]
        source = package.get("source") or {}
        found[normalize(package["name"])] = {
            "name": package["name"],
            "version": str(package.get("version") or ""),
            "hashes": sorted(set(hashes)),
            "hash_kind": "archive" if hashes else None,
            "source": FROM_LOCK,
            "local": bool(
                isinstance(source, Mapping)
                and ({"editable", "virtual", "directory", "path"} & set(source))
            ),
        }
    return found


def owner_of(module: str, owners: Mapping[str, list[str]]) -> str | None:
    """The distribution that provides top-level ``module``: the one named like it when several
    do (``mlflow`` before ``mlflow-skinny``), else the first."""
    names = list(owners.get(module) or ())
    for name in names:
        if normalize(name) == normalize(module):
            return name
    return names[0] if names else None


def imported_modules() -> set[str]:
    """Top-level modules imported in this process, the standard library left out."""
    tops = {name.partition(".")[0] for name in list(sys.modules)}
    return {t for t in tops if t and t not in sys.stdlib_module_names and t != "__main__"}


def _distribution_facts(name: str) -> dict[str, Any] | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(name)
    except PackageNotFoundError:
        return None
    hashes: list[str] = []
    kind = None
    direct = dist.read_text("direct_url.json")
    if direct:
        try:
            info = json.loads(direct).get("archive_info") or {}
        except ValueError:
            info = {}
        given = info.get("hashes") or {}
        if isinstance(given, Mapping):
            hashes = [f"{algo}:{value}" for algo, value in sorted(given.items())]
        elif isinstance(info.get("hash"), str):
            hashes = [str(info["hash"]).replace("=", ":", 1)]
        kind = "archive" if hashes else None
    record = dist.read_text("RECORD")
    facts: dict[str, Any] = {
        "name": dist.metadata["Name"] or name,
        "version": dist.version,
        "hashes": hashes,
        "hash_kind": kind,
        "source": FROM_ENVIRONMENT,
    }
    if record:
        facts["record_sha256"] = hashlib.sha256(record.encode()).hexdigest()
        if not hashes:
            facts["hash_kind"] = "record"
    return facts


def capture(
    *, lock_path: Path | None, loader: Mapping[str, Any], modules: Iterable[str] | None = None
) -> dict[str, Any]:
    """The environment of a model logged now by this process (see the module docstring)."""
    from importlib.metadata import packages_distributions

    lock = project_lock(lock_path)
    owners = packages_distributions()
    module_map: dict[str, str] = {}
    packages = {key: dict(entry) for key, entry in lock.items()}
    for module in sorted(imported_modules() if modules is None else set(modules)):
        dist_name = owner_of(module, owners)
        if dist_name is None:
            continue
        module_map[module] = dist_name
        key = normalize(dist_name)
        facts = _distribution_facts(dist_name)
        if key in packages:
            entry = packages[key]
            entry.setdefault("modules", []).append(module)
            if facts and facts["version"] != entry["version"] and not entry.get("local"):
                entry["installed"] = facts["version"]
            continue
        if facts is None:
            continue
        facts["modules"] = [module]
        packages[key] = facts
    lock_bytes = lock_path.read_bytes() if lock_path is not None and lock_path.is_file() else None
    return {
        "format": FORMAT,
        "python": python_info(),
        "loader": dict(loader),
        "project_lock_sha256": hashlib.sha256(lock_bytes).hexdigest() if lock_bytes else None,
        "packages": [packages[key] for key in sorted(packages)],
        "modules": dict(sorted(module_map.items())),
    }


def digest(environment: Mapping[str, Any]) -> str:
    """sha256 of the environment's content (the same packages and Python: the same digest)."""
    text = json.dumps(
        {k: environment.get(k) for k in ("python", "packages")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def requirements(environment: Mapping[str, Any]) -> str:
    """The complete lock as pip requirements: ``name==version`` with ``--hash`` options for the
    archive hashes known; a package installed from a local folder (the project itself) is a
    comment, and so is an installed-files fingerprint (not a hash pip can check)."""
    python = environment.get("python") or {}
    lines = [
        f"# Complete lock captured by Atelier for Python {python.get('version', '?')} "
        f"({python.get('platform', '?')})",
        "# Hashes are archive sha256s from the project's uv.lock or from pip's direct_url.json;",
        "# packages without one list the sha256 of their installed RECORD as a comment.",
    ]
    for package in environment.get("packages") or ():
        name, version = package.get("name"), package.get("installed") or package.get("version")
        if package.get("local"):
            lines.append(f"# {name}=={version} (installed from a local folder)")
            continue
        line = f"{name}=={version}"
        hashes = package.get("hashes") if not package.get("installed") else []
        if hashes:
            line += "".join(f" \\\n    --hash={h}" for h in hashes)
        elif package.get("record_sha256"):
            line += f"  # RECORD sha256:{package['record_sha256']}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def loader_of(flavors: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """The loader of a model from its ``MLmodel`` flavours: the native flavour, MLflow's loader
    module, the serialization format and the library version the flavour recorded."""
    pyfunc = flavors.get("python_function") or {}
    native = [f for f in flavors if f != "python_function"]
    flavor = native[0] if native else "python_function"
    conf = flavors.get(flavor) or {}
    versions = {k: v for k, v in conf.items() if k.endswith("_version") and isinstance(v, str)}
    return {
        "model": name,
        "flavor": flavor,
        "loader_module": pyfunc.get("loader_module"),
        "serialization_format": conf.get("serialization_format") or conf.get("model_format"),
        "library": FLAVOR_DISTRIBUTIONS.get(flavor),
        **versions,
    }


# -- what a saved model imports ------------------------------------------------------------------


def pickle_globals(data: bytes | IO[bytes]) -> set[str]:
    """Module names a pickle's GLOBAL/STACK_GLOBAL opcodes import, read without unpickling
    (what follows an unreadable opcode, such as joblib's raw arrays, is not read). ``data``:
    the bytes, or a binary file read as a stream."""
    found: set[str] = set()
    memo: dict[int, Any] = {}
    recent: list[Any] = []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if name == "GLOBAL" or name == "INST":
                found.add(str(arg).split(" ", 1)[0])
                recent.append(None)
            elif name == "STACK_GLOBAL":
                if len(recent) >= 2 and isinstance(recent[-2], str):
                    found.add(recent[-2])
                recent.append(None)
            elif name in (
                "SHORT_BINUNICODE",
                "BINUNICODE",
                "BINUNICODE8",
                "UNICODE",
                "SHORT_BINSTRING",
                "BINSTRING",
                "STRING",
            ):
                recent.append(arg if isinstance(arg, str) else None)
            elif name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(str(arg))] = recent[-1] if recent else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(str(arg))))
            elif name != "FRAME" and name != "PROTO":
                recent.append(None)
            del recent[:-4]
    except Exception:  # a truncated or non-pickle tail: keep what was read
        pass
    return {m for m in found if m}


def skops_modules(path: Path) -> set[str]:
    """The ``__module__`` of every object a skops file's schema names."""
    found: set[str] = set()
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("schema.json").file_size > MAX_SCHEMA_BYTES:
                return found  # not unpacked: a bomb's claim or not, too big to read here
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return found
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            module = node.get("__module__")
            if isinstance(module, str):
                found.add(module)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def model_imports(folder: Path, flavors: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """``{top-level module: [files or flavour that need it]}`` for the model saved in
    ``folder``, the standard library left out."""
    needs: dict[str, set[str]] = {}

    def add(modules: Iterable[str], why: str) -> None:
        for module in modules:
            top = module.partition(".")[0]
            if top and top not in sys.stdlib_module_names and top != "builtins":
                needs.setdefault(top, set()).add(why)

    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file() or path.suffix not in SCANNED_SUFFIXES:
                continue
            stat = path.stat()
            if stat.st_size <= MAX_SCAN_BYTES:
                relative = path.relative_to(folder).as_posix()
                add(_file_modules(str(path), stat.st_size, stat.st_mtime_ns), relative)
    for flavor, conf in (flavors or {}).items():
        library = FLAVOR_DISTRIBUTIONS.get(flavor)
        if library:
            add([_module_of(library)], f"flavour {flavor}")
        if flavor == "python_function" and isinstance(conf, Mapping):
            loader = conf.get("loader_module")
            if isinstance(loader, str):
                add([loader], "loader module")
    return {module: sorted(why) for module, why in sorted(needs.items())}


def _archive_pickles(path: Path) -> set[str]:
    found: set[str] = set()
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                if entry.filename.endswith(".pkl") and entry.file_size <= MAX_SCHEMA_BYTES:
                    with archive.open(entry) as stream:
                        found |= pickle_globals(stream)
    except (OSError, ValueError, zipfile.BadZipFile):
        return found
    return found


@functools.lru_cache(maxsize=256)
def _file_modules(path: str, size: int, mtime_ns: int) -> frozenset[str]:
    """The modules one saved file imports (remembered while its size and time stay)."""
    if path.endswith(".skops"):
        return frozenset(skops_modules(Path(path)))
    if zipfile.is_zipfile(path):  # torch.save's archive: its pickles inside
        return frozenset(_archive_pickles(Path(path)))
    try:
        with open(path, "rb") as stream:
            return frozenset(pickle_globals(stream))
    except OSError:
        return frozenset()


def _module_of(distribution: str) -> str:
    return {"scikit-learn": "sklearn", "torch": "torch"}.get(distribution, distribution)


def review(
    environment: Mapping[str, Any] | None,
    imports: Mapping[str, list[str]],
    *,
    owners: Mapping[str, list[str]] | None = None,
) -> list[dict[str, Any]]:
    """What the model imports that its environment does not pin, one entry per package:
    ``{"module", "package", "version", "needed_by", "problem", "message"}``. ``problem`` is
    ``missing`` (no package of the lock provides it) or ``not-in-project-lock`` (pinned only
    because it was imported from the environment the model was trained in)."""
    if owners is None:
        from importlib.metadata import packages_distributions

        owners = packages_distributions()
    captured = environment or {}
    modules: Mapping[str, str] = captured.get("modules") or {}
    packages = {normalize(str(p.get("name", ""))): p for p in captured.get("packages") or ()}
    has_project_lock = bool(captured.get("project_lock_sha256"))
    flags: list[dict[str, Any]] = []
    for module, needed_by in imports.items():
        dist = modules.get(module) or owner_of(module, owners)
        package = packages.get(normalize(dist)) if dist else None
        where = ", ".join(needed_by)
        if package is None:
            label = dist or module
            flags.append(
                {
                    "module": module,
                    "package": dist,
                    "version": None,
                    "needed_by": needed_by,
                    "problem": "missing",
                    "message": f"{label} (module {module}, needed by {where}) is not in the "
                    "captured lock: the model cannot be recreated from it",
                }
            )
        elif package.get("source") == FROM_ENVIRONMENT:
            origin = (
                "the project's uv.lock does not pin it"
                if has_project_lock
                else "the run had no project uv.lock"
            )
            flags.append(
                {
                    "module": module,
                    "package": package.get("name"),
                    "version": package.get("version"),
                    "needed_by": needed_by,
                    "problem": "not-in-project-lock",
                    "message": f"{package.get('name')} {package.get('version')} (needed by "
                    f"{where}) came from the environment the model was trained in: {origin} "
                    "(captured here at its exact version)",
                }
            )
    return flags


def read(text: str | None) -> dict[str, Any] | None:
    """An environment artifact's content; None when absent or unreadable."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
