"""Files received for upload, kept between a preview and the upload that commits them.

The portal sends a file once: the preview keeps it under an unguessable id, and the upload
names that id instead of sending the file again. Each file lives in its own folder
``<inbox>/<id>/`` with its original name (so messages and format detection see that name)
and an ``.owner`` file: only the user who sent it may use it. Folders older than a day are
swept away whenever a new file arrives.

With ``[storage]``, a file kept for later (:meth:`Inbox.keep`, after a preview) is also copied
to the bucket's ``<prefix>/uploads/<id>/``, which is then the copy that counts: the upload
that names the id may reach another server, which brings the file from there; a file used or
discarded through any server is gone from the bucket, and so refused by every server.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from atelier.errors import InvalidInput, NotFound
from atelier.services.storage import Files

log = logging.getLogger(__name__)

_ID = re.compile(r"[0-9a-f]{32}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_AGE_SECONDS = 24 * 3600
#: How often (at most) a process sweeps the bucket's expired uploads.
BUCKET_SWEEP_SECONDS = 3600.0


@dataclass(frozen=True)
class Received:
    """A received file: its id, where it is, and who sent it."""

    id: str
    path: Path
    owner: str

    @property
    def name(self) -> str:
        return self.path.name


def safe_filename(name: str | None) -> str:
    """The last part of a client-given file name, without characters that could escape the
    folder or confuse a shell; ``upload`` if nothing is left."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:200] or "upload"


class Inbox:
    """The received files of a workspace, under ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        max_age_seconds: float = MAX_AGE_SECONDS,
        files: Files | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.max_age_seconds = max_age_seconds
        #: The bucket's copy of kept files (none without ``[storage]``).
        self.files = files or Files(self.directory, None, "uploads")
        self._bucket_swept = 0.0

    def new(self, filename: str | None, owner: str) -> Received:
        """A new, empty place for a file that ``owner`` is sending."""
        self.sweep()
        upload_id = uuid.uuid4().hex
        folder = self.directory / upload_id
        folder.mkdir(parents=True, mode=0o700)
        (folder / ".owner").write_text(owner, encoding="utf-8")
        return Received(upload_id, folder / safe_filename(filename), owner)

    def get(self, upload_id: str, owner: str) -> Received:
        """The file ``owner`` sent under ``upload_id``; :class:`NotFound` if there is none
        (never sent, already used, expired, or someone else's)."""
        if not _ID.fullmatch(str(upload_id or "")):
            raise InvalidInput(f"upload id {upload_id!r} is not valid")
        folder = self.directory / upload_id
        if self.files.shared:
            kept_for = self.files.get_text(f"{upload_id}/.owner")
            if kept_for is None:
                # Used or discarded through another server (or never kept): gone here too.
                shutil.rmtree(folder, ignore_errors=True)
            elif kept_for == owner:  # someone else's is not even fetched
                self.files.load(upload_id, folder)
        files = [p for p in folder.iterdir() if p.name != ".owner"] if folder.is_dir() else []
        try:
            sender = (folder / ".owner").read_text(encoding="utf-8")
        except OSError:
            sender = None
        if sender != owner or len(files) != 1:
            raise NotFound(
                f"no received file {upload_id}: it was used, expired after a day, or never "
                "finished arriving; send the file again"
            )
        return Received(upload_id, files[0], owner)

    def keep(self, received: Received) -> None:
        """Keep a file that has arrived for a later upload by id: with ``[storage]``, in the
        bucket too, where any server of the workspace finds it."""
        if self.files.shared:
            self.files.save(received.id, received.path.parent)

    def discard(self, upload_id: str) -> None:
        """Remove a received file, if it is still there."""
        if _ID.fullmatch(str(upload_id or "")):
            shutil.rmtree(self.directory / upload_id, ignore_errors=True)
            if self.files.shared:
                try:
                    self.files.delete(upload_id)
                except Exception:  # swept after a day
                    log.warning("upload %s: could not delete it from the bucket", upload_id)

    def sweep(self) -> None:
        """Remove what is older than ``max_age_seconds``."""
        if not self.directory.is_dir():
            return
        if self.files.shared and time.monotonic() - self._bucket_swept > BUCKET_SWEEP_SECONDS:
            self._bucket_swept = time.monotonic()
            try:
                self.files.sweep(self.max_age_seconds)
            except Exception:
                log.warning("could not sweep expired uploads from the bucket", exc_info=True)
        limit = time.time() - self.max_age_seconds
        for folder in self.directory.iterdir():
            try:
                if folder.is_dir() and folder.stat().st_mtime < limit:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue
