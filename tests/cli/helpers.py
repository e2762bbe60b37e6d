"""What the CLI tests share: running `atelier` as users do, and a workspace with tables.

:func:`atelier` runs the command in this process (a fresh interpreter per command costs
seconds of imports and adds nothing), with the environment, working folder, standard streams
and exit status a subprocess would have. Commands that start servers, jobs or notebooks, and
tests that need a real process (signals, a terminal, what a fresh interpreter imports), use
``subprocess=True`` or are sent to one automatically (:data:`IN_SUBPROCESS`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess as subprocesses
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.conftest import new_workspace

#: Commands that run in a subprocess: they start processes of their own that must end with
#: the command (servers, jobs, notebooks) or that outlive it.
IN_SUBPROCESS = frozenset({"up", "serve", "run", "notebook"})


def atelier(
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    subprocess: bool = False,
) -> subprocesses.CompletedProcess[str]:
    """``atelier ARGS`` with the outer ``ATELIER_*`` variables dropped and ``env`` added."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    environ.update(env or {})
    if subprocess or (args and args[0] in IN_SUBPROCESS):
        return subprocesses.run(
            [sys.executable, "-m", "atelier", *args],
            cwd=cwd,
            input=stdin,
            text=True,
            capture_output=True,
            env=environ,
            timeout=120,
        )
    return _in_process(list(args), cwd=cwd, stdin=stdin or "", environ=environ)


def _in_process(
    args: list[str], *, cwd: Path | None, stdin: str, environ: dict[str, str]
) -> subprocesses.CompletedProcess[str]:
    from atelier.cli.main import cli

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    code = 0
    with _process_state(args, cwd, environ, stdin, stdout, stderr):
        try:
            cli.main(args, prog_name="atelier")
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("message"): the message on stderr, status 1
                print(exc.code, file=sys.stderr)
                code = 1
        except Exception:  # what the interpreter does with an uncaught exception
            traceback.print_exc(file=sys.stderr)
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    return subprocesses.CompletedProcess(["atelier", *args], code, _text(stdout), _text(stderr))


def _text(stream: io.TextIOWrapper) -> str:
    """What ``subprocess.run(text=True)`` would read: universal newlines."""
    stream.flush()
    raw = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def _process_state(
    args: list[str],
    cwd: Path | None,
    environ: dict[str, str],
    stdin: str,
    stdout: io.TextIOWrapper,
    stderr: io.TextIOWrapper,
) -> Iterator[None]:
    """The process-wide state a command sees, set for its run and restored after it."""
    saved_environ = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_argv = sys.argv
    root = logging.getLogger()
    saved_logging = root.handlers[:], root.level, logging.root.manager.disable
    with warnings.catch_warnings():
        # A fresh interpreter's filters (the test run turns warnings into errors).
        warnings.resetwarnings()
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        warnings.filterwarnings("ignore", category=ImportWarning)
        warnings.filterwarnings("ignore", category=ResourceWarning)
        try:
            os.environ.clear()
            os.environ.update(environ)
            if cwd is not None:
                os.chdir(cwd)
            sys.argv = ["atelier", *args]
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
            sys.stdout, sys.stderr = stdout, stderr
            yield
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            sys.argv = saved_argv
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_environ)
            root.handlers[:] = saved_logging[0]
            root.setLevel(saved_logging[1])
            logging.disable(saved_logging[2])


#: What a command without ATELIER_TOKEN says first on stderr.
LOCAL_ADMIN_NOTICE = "acting as local admin "


def error_lines(stderr: str) -> list[str]:
    """stderr without the local admin notice (and the blank lines progress bars leave)."""
    return [
        line
        for line in stderr.strip().splitlines()
        if line.strip() and not line.startswith(LOCAL_ADMIN_NOTICE)
    ]


def one_line_error(result: subprocesses.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def workspace_with(tmp_path: Path, sql: str, *, author: str = "ada") -> Path:
    """A new workspace whose lake holds what ``sql`` creates (one snapshot by ``author``)."""
    root = new_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        wb.warehouse.run_write(lambda c: c.execute(sql), author=author)
    finally:
        wb.close()
    return root
