"""What a request to JupyterLab changes in which project, asked before the gateway forwards it.

JupyterLab's file browser shows the whole ``projects/`` folder, and its kernels, contents and
git panel act on paths below it. Project roles hold there too: only a project's owners and
editors (and admins) save, rename or delete its files, run its kernels or change its git
repository; readers open its notebooks read-only, and others are told why. The path is read
as JupyterLab reads it (decoded once, then normalized), so that ``a/../b`` is project ``b``.

This is the rule of the interface people use; code that already runs (a kernel or terminal of
the user's own project) acts as the server's operating-system user (see docs/notebooks.md).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass

from atelier.services.notebooks.kernelspecs import PREFIX

#: Methods that change something in JupyterLab's REST API.
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: jupyterlab-git answers every call with POST; these only read the repository.
GIT_READS = frozenset(
    {
        "branch",
        "changed_files",
        "check_notebooks",
        "content",
        "detailed_log",
        "diff",
        "diffnotebook",
        "log",
        "remote/show",
        "settings",
        "show_prefix",
        "show_top_level",
        "status",
        "submodules",
        "tags",
        "upstream",
    }
)


@dataclass(frozen=True)
class Change:
    """``doing`` in ``project`` (None: the top of the projects folder, or outside it)."""

    project: str | None
    doing: str


def project_of(path: str) -> str | None:
    """The project that ``path`` (relative to the projects folder) lies in; None for the
    folder itself or a path that leaves it."""
    normal = posixpath.normpath("/" + path.strip("/")).lstrip("/")
    if not normal or normal.startswith(".."):
        return None
    head = normal.split("/", 1)[0]
    return head or None


def needs_body(method: str, path: str) -> bool:
    """Whether :func:`changes` reads the request's body to tell what ``method path`` changes
    (which kernel it starts, where a file moves)."""
    parts = path.strip("/").split("/", 2)
    if method not in CHANGES or parts[0] != "api" or len(parts) < 2:
        return False
    return parts[1] in ("sessions", "kernels") or (method == "PATCH" and parts[1] == "contents")


def changes(method: str, path: str, body: bytes) -> list[Change]:
    """What the request ``method`` ``path`` (below JupyterLab's base URL) with ``body`` would
    change, by project; empty when it only reads."""
    if method not in CHANGES:
        return []
    parts = path.strip("/").split("/", 2)
    if parts[:2] == ["api", "contents"]:
        target = parts[2] if len(parts) > 2 else ""
        found = [Change(project_of(target), "change its files")]
        moved_to = _field(body, "path") if method == "PATCH" else None
        if moved_to is not None:
            found.append(Change(project_of(moved_to), "change its files"))
        return found
    if parts[:2] in (["api", "sessions"], ["api", "kernels"]):
        kernel = _kernel_name(body)
        if kernel is not None and kernel.startswith(PREFIX):
            return [Change(kernel[len(PREFIX) :], "run its notebooks")]
        return []
    if parts[0] == "git" and len(parts) > 1:
        rest = "/".join(parts[1:])
        for read in GIT_READS:
            if rest == read or rest.endswith("/" + read):
                return []
        where = rest.rsplit("/", 1)[0] if "/" in rest else ""
        if where.endswith("/remote"):  # DELETE .../remote/NAME
            where = where.rsplit("/", 1)[0]
        return [Change(project_of(where), "change its git repository")]
    return []


def _json(body: bytes) -> dict[str, object]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _field(body: bytes, name: str) -> str | None:
    value = _json(body).get(name)
    return value if isinstance(value, str) else None


def _kernel_name(body: bytes) -> str | None:
    data = _json(body)
    kernel = data.get("kernel")
    if isinstance(kernel, dict) and isinstance(kernel.get("name"), str):
        return str(kernel["name"])
    name = data.get("name")
    return name if isinstance(name, str) else None
