"""The fields of a generated app that its owner marks as personal data (or not).

Serving works out which fields of a model's requests are personal (:mod:`atelier.services.
serving.personal`: what training recorded and what the classifier finds); the owner of an app
(or an admin) adds what neither knows (``customer_ref`` holds e-mail addresses here), or takes
back a classifier's guess. What training recorded stays personal: it came from the tags of
the tables the model was trained on, which the app's owner does not decide.

The marks of an app are one small JSON file, ``{"field": "kind" | null}``, replaced whole by
an atomic rename under a lock, so that two changes at once both land and a reader never sees
half a file. :class:`AppService` checks who may change them and records the audit entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from atelier.errors import InvalidInput
from atelier.services.pii import PiiKind

#: What a mark says: a kind of personal data, or None for "not personal data".
Mark = str | None


class AppMarks:
    """The marks of every app, one file each in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, app: str) -> dict[str, Mark]:
        """Field → kind (or None: not personal) of ``app``; empty when it has none."""
        path = self._path(app)
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            # Unreadable marks would quietly unmask fields: refuse to go on without them.
            raise InvalidInput(
                f"the personal-data marks of app {app!r} ({path}): {error}"
            ) from None
        if not isinstance(found, dict):
            raise InvalidInput(f"the personal-data marks of app {app!r} ({path}) are not an object")
        return {str(k): (None if v is None else str(v)) for k, v in found.items()}

    def set(self, app: str, field: str, kind: Mark) -> dict[str, Mark]:
        """Mark ``field`` of ``app`` as ``kind`` (None: not personal); the app's marks."""
        if kind is not None:
            kind = kind_of(kind)
        with self._locked(app):
            marks = self.get(app)
            marks[field] = kind
            self._write(app, marks)
        return marks

    def clear(self, app: str, field: str) -> dict[str, Mark]:
        """Take ``field``'s mark off (the model's own findings hold again)."""
        with self._locked(app):
            marks = self.get(app)
            if marks.pop(field, "absent") == "absent":
                return marks
            self._write(app, marks)
        return marks

    def forget(self, app: str) -> None:
        """Delete every mark of ``app`` (the app was deleted)."""
        with contextlib.suppress(FileNotFoundError):
            self._path(app).unlink()

    def _path(self, app: str) -> Path:
        if not app or "/" in app or app.startswith("."):
            raise InvalidInput(f"{app!r} is not an app name")
        return self.folder / f"{app}.json"

    @contextlib.contextmanager
    def _locked(self, app: str) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (self.folder / f".{app}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _write(self, app: str, marks: dict[str, Mark]) -> None:
        path = self._path(app)
        staged = path.with_name(f".{app}.{uuid.uuid4().hex[:8]}.staged")
        try:
            staged.write_text(json.dumps(marks, sort_keys=True), encoding="utf-8")
            os.replace(staged, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()


def kind_of(kind: str) -> str:
    """A kind of personal data by its name, or a clear error listing the kinds."""
    try:
        return PiiKind(str(kind).strip().lower()).value
    except ValueError:
        known = ", ".join(k.value for k in PiiKind)
        raise InvalidInput(f"{kind!r} is not a kind of personal data: use one of {known}") from None


__all__ = ["AppMarks", "Mark", "kind_of"]
