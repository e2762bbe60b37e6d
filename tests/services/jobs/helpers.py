"""What the jobs tests share: a workspace with small profiles, scripts, and clean-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench

PROFILES = """
[profiles.tiny]
cpus = 1
memory = "200MB"
max_runtime = "3s"

[profiles.huge]
cpus = 100000
memory = "1GB"
"""


def jobs_workspace(
    root: Path,
    *,
    metadata_url: str = "",
    backend: str = "local",
    compute: str = "",
    extra: str = "",
) -> Workspace:
    """A workspace with the test profiles; ``compute``: lines added to ``[compute]``."""
    root, _ = init_workspace(root)
    config = root / "atelier.toml"
    text = config.read_text() + PROFILES + extra
    text = text.replace('backend = "local"\n', f'backend = "{backend}"\n{compute}\n', 1)
    if metadata_url:
        text = text.replace('\nurl = ""\n', f'\nurl = "{metadata_url}"\n', 1)
    # No server answers here: jobs run against the workspace directly.
    text = text.replace("port = 8700", "port = 1")
    config.write_text(text)
    return Workspace.open(root, environ={})


@contextmanager
def open_jobs_workbench(workspace: Workspace) -> Iterator[Workbench]:
    wb = Workbench(workspace)
    try:
        yield wb
    finally:
        owner = wb.owner()
        for job in wb.jobs.list():
            if not job.final:
                wb.jobs.cancel(job.id, principal=owner, wait=30)
        wb.close()


def script(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path
