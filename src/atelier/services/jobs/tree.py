"""A working tree that came with a job, unpacked into the job's own folder.

The archive's rules are :mod:`atelier.contract.trees`'s (regular files and folders only, no
absolute path, no ``..``, no link, no device, each name once, never written through a link),
checked for every member before anything is written; the jobs service adds its own size limit,
``compute.max_tree_size``, on the unpacked bytes. The folder is new: nothing is overwritten,
and on any refusal it is removed again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from atelier.contract.trees import read_members
from atelier.contract.trees import unpack as unpack_members
from atelier.errors import InvalidInput


class TreeTooLarge(InvalidInput):
    status_code = 413


def unpack(archive: Path, dest: Path, *, limit: int) -> int:
    """Unpack the tar.gz ``archive`` into the new folder ``dest``; the number of files."""
    dest.mkdir(parents=True, exist_ok=False)
    try:
        with archive.open("rb") as source:
            total = sum(info.size for _, info in read_members(source))
            if total > limit:
                raise TreeTooLarge(too_large(limit))
            source.seek(0)
            return len(unpack_members(source, dest))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def too_large(limit: int) -> str:
    from atelier.config.units import format_size

    return (
        f"the working tree is larger than {format_size(limit)}, the most a job may bring "
        "(setting compute.max_tree_size): leave data and models out (.gitignore) and read them "
        "from the warehouse or MLflow"
    )


__all__ = ["TreeTooLarge", "too_large", "unpack"]
