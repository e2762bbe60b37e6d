"""The default base image, made from Debian packages with no image registry at all.

``mmdebstrap --variant=apt --include=python3,python3-venv,ca-certificates,libgomp1 bookworm
base.tar`` writes a root filesystem (about a minute and a half) that the engine imports as
:data:`DEFAULT_BASE` (``localhost/atelier-python:bookworm``). Teams with a registry set
``containers.base_image = "python:3.11-slim"`` instead and never need this.

The tar is kept (``tar``), so a second import (another engine, a wiped image store) does not
bootstrap Debian again.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from atelier.errors import AtelierError
from atelier.services.containers.engines import Engine

DEFAULT_BASE = "localhost/atelier-python:bookworm"
SUITE = "bookworm"
#: libgomp1: the OpenMP runtime that LightGBM (and XGBoost) wheels load.
PACKAGES = ("python3", "python3-venv", "ca-certificates", "libgomp1")
BOOTSTRAP_SECONDS = 1800


def bootstrap(tar: Path) -> Path:
    """Write the Debian root filesystem to ``tar`` (atomically: a temporary file renamed)."""
    binary = shutil.which("mmdebstrap")
    if binary is None:
        raise AtelierError(
            "making the base image needs mmdebstrap (Debian: apt-get install mmdebstrap), or "
            "set containers.base_image to an image from a registry, e.g. python:3.11-slim"
        )
    tar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tar.parent, prefix=".base-") as folder:
        partial = Path(folder) / "base.tar"
        try:
            done = subprocess.run(
                [
                    binary,
                    "--variant=apt",
                    f"--include={','.join(PACKAGES)}",
                    SUITE,
                    str(partial),
                ],
                capture_output=True,
                text=True,
                timeout=BOOTSTRAP_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AtelierError(f"mmdebstrap took more than {BOOTSTRAP_SECONDS} s") from None
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
            raise AtelierError(f"mmdebstrap could not make the base image: {tail}")
        partial.replace(tar)
    return tar


def ensure(engine: Engine, *, tag: str = DEFAULT_BASE, tar: Path, rebuild: bool = False) -> str:
    """Make ``tag`` in ``engine`` when it is missing (or ``rebuild``): from ``tar`` when that
    file exists, else bootstrapped into it first. Returns what was done."""
    if not rebuild and engine.exists(tag):
        return f"{tag} is already in {engine.name}"
    made = "reused"
    if rebuild or not tar.is_file():
        bootstrap(tar)
        made = "made"
    engine.import_tar(tar, tag)
    return f"{tag} imported into {engine.name} from {tar} ({made})"
