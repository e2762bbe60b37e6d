"""What the CLI tests share: running `atelier` as users do, and a workspace with tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench


def atelier(
    *args: str, cwd: Path | None = None, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    return subprocess.run(
        [sys.executable, "-m", "atelier", *args],
        cwd=cwd,
        input=stdin,
        text=True,
        capture_output=True,
        env={**environ, **(env or {})},
        timeout=120,
    )


#: What a command without ATELIER_TOKEN says first on stderr.
LOCAL_ADMIN_NOTICE = "acting as local admin "


def error_lines(stderr: str) -> list[str]:
    """stderr without the local admin notice (and the blank lines progress bars leave)."""
    return [
        line
        for line in stderr.strip().splitlines()
        if line.strip() and not line.startswith(LOCAL_ADMIN_NOTICE)
    ]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def workspace_with(tmp_path: Path, sql: str, *, author: str = "ada") -> Path:
    """A new workspace whose lake holds what ``sql`` creates (one snapshot by ``author``)."""
    root, _ = init_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        wb.warehouse.run_write(lambda c: c.execute(sql), author=author)
    finally:
        wb.close()
    return root
