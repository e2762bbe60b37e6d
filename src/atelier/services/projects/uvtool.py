"""Running uv for a project: the binary shipped with Atelier, a clean environment, one uv at a
time per project, and uv's own reason when it fails."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from atelier.config.child_env import without_server_secrets
from atelier.errors import AtelierError

#: Seconds one uv run may take (a first install downloads wheels).
TIMEOUT = 1800

#: Variables that would point uv at another environment or project than the one we name.
_FOREIGN = ("VIRTUAL_ENV", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT", "UV_PROJECT", "UV_PYTHON")

#: stderr lines that report progress rather than a reason.
_PROGRESS = (
    "Resolved ",
    "Prepared ",
    "Installed ",
    "Uninstalled ",
    "Audited ",
    "Checked ",
    "Using CPython",
    "Creating virtual environment",
    "Activate with",
    "Downloading ",
    "Downloaded ",
    "Built ",
    "Building ",
    "Updated ",
    "Removed virtual environment",
    " + ",
    " - ",
    " ~ ",
)


#: Wrappers around the real reason, which follows them.
_GENERIC = frozenset(
    {
        "Failed to add dependencies",
        "Failed to remove dependencies",
        "No solution found when resolving dependencies",
    }
)


class UvFailed(AtelierError):
    """uv refused or failed; the message holds its reason."""

    status_code = 422


def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:  # pragma: no cover - uv is a dependency of atelier
        raise AtelierError("uv is not installed: reinstall atelier (it depends on uv)") from None
    try:
        return find_uv_bin()
    except FileNotFoundError:
        raise AtelierError("the uv binary was not found: reinstall the `uv` package") from None


def reason(stderr: str) -> str:
    """The useful lines of uv's stderr: errors and their causes, not progress or hints that
    name uv flags the user cannot pass through Atelier."""
    lines = []
    for raw in stderr.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("hint:") or line.startswith(_PROGRESS):
            continue
        for prefix in ("error: ", "cause: "):
            if stripped.startswith(prefix):
                stripped = stripped[len(prefix) :]
        if stripped not in lines and stripped not in _GENERIC:
            lines.append(stripped)
    return "; ".join(lines[:12]) or "uv failed without saying why"


def run_uv(args: Sequence[str], *, venv: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``uv ARGS`` for the environment ``venv`` with Atelier's own interpreter; raise
    :class:`UvFailed` with uv's reason when it fails."""
    # uv builds projects' packages (a cloned repository's build code runs here): none of
    # the server's secrets.
    env = {k: v for k, v in without_server_secrets(os.environ).items() if k not in _FOREIGN}
    env.update(
        UV_PROJECT_ENVIRONMENT=str(venv),
        # Projects run on the interpreter that runs Atelier, so they can see its packages.
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        NO_COLOR="1",
        # uv wraps its reasons at COLUMNS (80 in some shells): one reason is one line here.
        COLUMNS="10000",
    )
    try:
        result = subprocess.run(
            [uv_binary(), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise UvFailed(f"uv {args[0]} took longer than {TIMEOUT} s and was stopped") from None
    if result.returncode != 0:
        raise UvFailed(reason(result.stderr))
    return result


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (other processes wait): two changes of one
    project's environment never interleave, whichever server, CLI or kernel makes them."""
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
