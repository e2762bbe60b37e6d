"""Build contexts received from a server: unpacked into a new folder, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atelier.errors import InvalidInput


def check_empty(folder: str | Path) -> Path:
    """``folder`` as a path, refused unless it is new or an empty folder."""
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(f"{target} is not an empty folder: give a new one for the context")
    return target


def receive_context(client: Any, path: str, params: dict[str, Any], folder: str | Path) -> Path:
    """Download the context archive at ``path`` and unpack it into ``folder`` (new or empty):
    staged beside it and moved in whole, so a failure leaves no half-written folder."""
    import shutil
    import tarfile
    import tempfile

    target = check_empty(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        response = client.request("GET", path, params=params, timeout=None)
        archive = staged / "context.tar.gz"
        archive.write_bytes(response.content)
        unpacked = staged / "context"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")  # no links out, no absolute paths
        if target.exists():
            target.rmdir()
        unpacked.replace(target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return target
