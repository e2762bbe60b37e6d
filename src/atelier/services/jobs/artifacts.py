"""A job's artifacts in the bucket: what it leaves is copied there when it ends.

The job runs on one machine and writes its folder there (``artifacts/jobs/<id>/``: the
executed notebook, the CPU and memory samples, the working tree it brought) and its log
(``logs/jobs/<id>.log``). With ``[storage]``, when the job ends its folder goes to
``<prefix>/jobs/<id>/`` and its log to ``<prefix>/jobs/<id>.log``; a server that does not
have them on its disk (another machine, a replaced disk) brings them back from there when they
are asked for. Without a bucket nothing changes: the files stay where the job wrote them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from atelier.services.jobs.paths import JobPaths
from atelier.services.storage import Files, files_of

log = logging.getLogger(__name__)

AREA = "jobs"


def job_files(settings: Any, root: Path) -> Files:
    """The jobs' area: ``artifacts/jobs`` locally, ``<prefix>/jobs`` in the bucket."""
    return files_of(settings, root / "artifacts" / "jobs", AREA)


def persist(settings: Any, root: Path, job_id: int) -> None:
    """Copy an ended job's folder and log to the bucket (nothing without one). A failure
    (credentials missing here too) is logged, never raised: the job has ended and is
    recorded either way."""
    if not settings.storage.bucket:
        return
    paths = JobPaths(root, job_id)
    try:
        files = job_files(settings, root)
        files.save(str(job_id), paths.artifacts)
        files.save(f"{job_id}.log", paths.log)
    except Exception:
        log.exception("job %s: could not copy its artifacts to the bucket", job_id)


def bring_back(settings: Any, root: Path, job_id: int, path: Path) -> Path:
    """``path`` (the job's log, or a file of its folder) on this machine, brought from the
    bucket when it is only there; one file at a time (the working tree the job brought
    stays in the bucket). Without a bucket, ``path`` as it is."""
    if not settings.storage.bucket or path.exists():
        return path
    paths = JobPaths(root, job_id)
    if path == paths.log:
        key = f"{job_id}.log"
    elif path.is_relative_to(paths.artifacts):
        key = f"{job_id}/{path.relative_to(paths.artifacts).as_posix()}"
    else:
        return path
    try:
        job_files(settings, root).load(key, path)
    except Exception:  # read as missing: the bucket may be away a moment
        log.warning("job %s: could not read %s from the bucket", job_id, key, exc_info=True)
    return path
