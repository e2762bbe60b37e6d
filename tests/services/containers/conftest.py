"""The container engine and the Debian base image, made once per test run.

The base image's root filesystem is kept at ``$XDG_CACHE_HOME/atelier-tests`` (or
``~/.cache/atelier-tests``): a later run imports it in seconds instead of bootstrapping Debian
again (about a minute and a half).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from atelier.services.containers import base
from atelier.services.containers.engines import Engine, engine_for

#: What this host needs (tests/prereqs.py installs them): runc, as crun fails on hybrid
#: cgroups, and explicit limits, as raising them is refused.
OCI_RUNTIME = "runc"
ULIMITS = ["nofile=1024:1024", "nproc=1000:1000"]
SETTINGS = f'\n[containers]\noci_runtime = "{OCI_RUNTIME}"\nulimits = {ULIMITS!r}\n'.replace(
    "'", '"'
)


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "atelier-tests"


def need_podman() -> Engine:
    missing = [p for p in ("podman", "runc", "mmdebstrap") if shutil.which(p) is None]
    if missing:
        message = f"{', '.join(missing)} not installed: model image tests need them"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (tests/prereqs.py installs them)")
        pytest.skip(f"{message} (apt-get install podman runc mmdebstrap docker-registry)")
    return engine_for("podman", oci_runtime=OCI_RUNTIME, ulimits=ULIMITS)


@pytest.fixture(scope="session")
def podman() -> Engine:
    """Podman with the base image in its store."""
    engine = need_podman()
    base.ensure(engine, tar=cache_dir() / f"atelier-python-{base.SUITE}.tar")
    return engine
