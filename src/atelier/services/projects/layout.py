"""The files of a project folder, and the link from its environment to Atelier's packages.

A project environment holds only what the project asked for (ipykernel and the user's
libraries). Atelier's own packages (atelier, duckdb, pandas, scikit-learn, mlflow, ...) are
reached through a ``.pth`` file in the environment's site-packages that appends Atelier's
site-packages *after* the environment's own: a library the project installs wins over the copy
Atelier ships, so two projects can hold conflicting versions of one library.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from atelier.contract.projects import requirement_name
from atelier.errors import InvalidInput

#: The ``.pth`` file that links a project environment to Atelier's packages.
BASE_LINK = "_atelier_base.pth"

GITIGNORE = """\
.venv/
__pycache__/
.ipynb_checkpoints/
# Written by `atelier projects pull`: the files as pulled, for the next push.
.atelier-project
"""


def requires_python() -> str:
    """The interpreter line of a project: the minor version that runs Atelier."""
    return f"=={sys.version_info.major}.{sys.version_info.minor}.*"


def pyproject(name: str, description: str) -> str:
    # Written by hand rather than with a TOML library: the content is fixed and tiny, and the
    # values are escaped as TOML basic strings.
    return (
        "[project]\n"
        f"name = {_toml_string(name)}\n"
        'version = "0.1.0"\n'
        f"description = {_toml_string(description)}\n"
        f"requires-python = {_toml_string(requires_python())}\n"
        'dependencies = ["ipykernel"]\n'
        "\n"
        "[tool.uv]\n"
        "# The project is an environment, not a package to build.\n"
        "package = false\n"
    )


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def write_skeleton(folder: Path, name: str, description: str) -> None:
    """``notebooks/``, ``src/``, ``pyproject.toml``, ``.gitignore`` and the starter notebook."""
    (folder / "notebooks").mkdir(parents=True)
    (folder / "src").mkdir()
    (folder / "pyproject.toml").write_text(pyproject(name, description), encoding="utf-8")
    (folder / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    from atelier.services.notebooks.starter import STARTER, starter_notebook

    # Bound to this project's kernel, so JupyterLab opens it without asking which to use.
    (folder / "notebooks" / STARTER.name).write_text(starter_notebook(name), encoding="utf-8")


def complete_clone(folder: Path, name: str, description: str) -> None:
    """What a cloned repository lacks to be a project: ``notebooks/``, ``src/`` and a
    ``pyproject.toml`` when it has none. Atelier's own files stay out of its history through
    ``.git/info/exclude``, not by changing the repository's ``.gitignore``."""
    (folder / "notebooks").mkdir(exist_ok=True)
    (folder / "src").mkdir(exist_ok=True)
    if not (folder / "pyproject.toml").exists():
        (folder / "pyproject.toml").write_text(pyproject(name, description), encoding="utf-8")
    exclude = folder / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a", encoding="utf-8") as out:
        out.write("\n" + GITIGNORE)


def declares_ipykernel(folder: Path) -> bool:
    """Whether the project's ``pyproject.toml`` requires ipykernel."""
    import tomllib

    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"the repository's pyproject.toml cannot be read: {exc}") from None
    requirements = data.get("project", {}).get("dependencies", [])
    return any(requirement_name(r) == "ipykernel" for r in requirements if isinstance(r, str))


def atelier_site_dirs() -> list[str]:
    """Where the running Atelier's packages live (purelib and platlib, once each)."""
    paths = sysconfig.get_paths()
    dirs: list[str] = []
    for key in ("purelib", "platlib"):
        if paths.get(key) and paths[key] not in dirs:
            dirs.append(paths[key])
    return dirs


def site_packages(venv: Path) -> Path:
    """The site-packages folder of a virtualenv made with Atelier's interpreter."""
    if sys.platform == "win32":
        return venv / "Lib" / "site-packages"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / version / "site-packages"


def link_text(project: Path) -> str:
    """The ``.pth`` lines: the project's ``src/`` first, then Atelier's site-packages.

    ``site.addsitedir`` (rather than a bare path line) also runs the ``.pth`` files found
    there, so an editable install of Atelier is found too. Both directories are appended to
    ``sys.path``, after the environment's own site-packages.
    """
    lines = [
        "# Written by Atelier: the project's src/ and Atelier's packages, after this env's own.",
        f"import sys; sys.path.append({str(project / 'src')!r})",
    ]
    lines += [f"import site; site.addsitedir({d!r})" for d in atelier_site_dirs()]
    return "\n".join(lines) + "\n"


def link_to_atelier(venv: Path, project: Path) -> None:
    """Write (or refresh) the link file; cheap and idempotent, so it follows every uv run."""
    target = site_packages(venv) / BASE_LINK
    text = link_text(project)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
