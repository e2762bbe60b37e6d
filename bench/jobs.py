"""Time from `atelier run` to the job's first line of output.

Local: next to starting the same script with Python directly (goal: under 0.3 s of Atelier
overhead). Ray: next to a raw `ray job submit` of the same script to the same one-CPU local
head (goal: at most 1.05x). Medians of interleaved runs; no Atelier server runs, so the CLI
starts the job's supervisor itself.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench._process import free_port, stop_group

RUNS = 5
RAY_RUNS = 3
MARKER = "first-line-of-the-job"
SCRIPT = f"print({MARKER!r}, flush=True)\n"
BIN = Path(sys.executable).parent


def _first_line(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Seconds until a line holding MARKER appears on the command's output."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    elapsed = None
    for line in process.stdout:
        if MARKER in line and elapsed is None:
            elapsed = time.perf_counter() - start
    process.wait()
    process.stdout.close()
    if elapsed is None:
        raise RuntimeError(f"{command[:3]}: no {MARKER!r} line (exit {process.returncode})")
    return elapsed


def _workspace(folder: Path, compute: str) -> Path:
    root = folder / "ws"
    subprocess.run([BIN / "atelier", "init", str(root)], check=True, capture_output=True)
    config = root / "atelier.toml"
    # A port nothing listens on: jobs run against the workspace, as without `atelier up`.
    text = config.read_text().replace("port = 8700", "port = 1")
    config.write_text(text.replace('backend = "local"\n', compute, 1))
    return root


def _ray_head(temp: Path) -> tuple[subprocess.Popen[bytes], str]:
    dashboard = free_port()
    command = [
        str(BIN / "ray"), "start", "--head", "--block", "--temp-dir", str(temp),
        "--num-cpus", "1", "--include-dashboard=true", "--dashboard-port", str(dashboard),
        "--port", str(free_port()), "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
    ]  # fmt: skip
    head = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and head.poll() is None:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError, TypeError):
            if httpx.get(f"{address}/api/v0/nodes", timeout=30).json()["data"]["result"]["result"]:
                return head, address
        time.sleep(0.5)
    stop_group(head, 20)
    raise RuntimeError("the Ray head did not start")


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="rb", dir="/tmp") as folder:
        here = Path(folder)
        (here / "first.py").write_text(SCRIPT)
        local = _workspace(here / "local", 'backend = "local"\n')
        python, atelier = [], []
        for _ in range(RUNS):
            python.append(_first_line([sys.executable, "first.py"], here))
            atelier.append(
                _first_line([str(BIN / "atelier"), "run", "-w", str(local), "first.py"], here)
            )
        bare, ours = statistics.median(python), statistics.median(atelier)
        overhead = ours - bare
        rows = [
            f"| local | `python first.py` | {bare:.3f} | `atelier run first.py` | {ours:.3f} | "
            f"+{overhead:.3f} s | < +0.300 s ({'met' if overhead < 0.3 else 'NOT met'}) |"
        ]
        head, address = _ray_head(here / "ray")
        try:
            ray_ws = _workspace(here / "ray-ws", f'backend = "ray"\nray_address = "{address}"\n')
            raw_env = {**os.environ, "RAY_ADDRESS": address}
            raw, ray_ours = [], []
            for _ in range(RAY_RUNS):
                raw.append(
                    _first_line(
                        [str(BIN / "ray"), "job", "submit", "--address", address, "--",
                         sys.executable, str(here / "first.py")],
                        here,
                        raw_env,
                    )
                )  # fmt: skip
                ray_ours.append(
                    _first_line([str(BIN / "atelier"), "run", "-w", str(ray_ws), "first.py"], here)
                )
        finally:
            stop_group(head, 20)
        raw_median, ours_median = statistics.median(raw), statistics.median(ray_ours)
        ratio = ours_median / raw_median
        rows.append(
            f"| Ray | `ray job submit -- python first.py` | {raw_median:.3f} | "
            f"`atelier run first.py` (backend ray) | {ours_median:.3f} | {ratio:.2f}x | "
            f"<= 1.05x ({'met' if ratio <= 1.05 else 'NOT met'}) |"
        )
    return (
        "## Jobs: time to the first line of output\n\n"
        f"Seconds from starting the command to the job's first output line; median of {RUNS} "
        f"local and {RAY_RUNS} Ray runs, interleaved. Ray: a one-CPU local head.\n\n"
        "| backend | baseline | s | Atelier | s | difference | goal |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )


if __name__ == "__main__":
    print(run())
