"""Where the workspace's own files persist: its folder, and with ``[storage]`` the bucket.

Jobs' artifacts, hosted apps' bundles, uploads kept for a while and image build contexts are
written by the server on its local disk first: a job writes its notebook and samples there,
a hosted app's process reads its script there, podman builds from a folder. :class:`Files`
is one area of those files (``jobs``, ``apps``, ``uploads``, ``images``): a local folder
and, when the workspace has a bucket, the prefix ``<prefix>/<area>/`` in it, which is the
copy every server reads. :meth:`Files.save` copies a local file or folder to the bucket,
:meth:`Files.load` brings a missing local one back from it (another server wrote it, or this
one's disk was replaced). Without a bucket both are no-ops over the local folder.

Keys are relative paths (``12/resources.jsonl``) checked like those of a tar: no absolute
path, no ``..``; a bucket object whose key would land outside the local folder is refused.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from atelier.backends.storage import ObjectStore
from atelier.errors import InvalidInput


def _key(key: str) -> str:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key:
        raise InvalidInput(f"{key!r} is not a relative path inside a storage area")
    return str(path)


class Files:
    """One area of the workspace's files: ``local`` always, the bucket's ``<area>/`` too."""

    def __init__(self, local: Path, store: ObjectStore | None, area: str) -> None:
        self.local = local
        self.store = store
        self.area = area

    @property
    def shared(self) -> bool:
        """Whether the area has a copy in the bucket (``[storage]`` names one)."""
        return self.store is not None

    def path(self, key: str) -> Path:
        """The local file or folder of ``key``."""
        return self.local.joinpath(*_key(key).split("/"))

    def url(self, key: str) -> str:
        """Where ``key`` persists: its ``s3://`` URL with a bucket, else its local path."""
        if self.store is None:
            return str(self.path(key))
        return self.store.url(self.area, _key(key))

    # -- writing ------------------------------------------------------------------------

    def save(self, key: str, source: Path | None = None) -> int:
        """Copy the file or folder ``source`` (by default the local one of ``key``) to the
        bucket under ``key``; a folder's objects that ``source`` no longer has are deleted.
        How many objects were written (0 without a bucket, or when ``source`` is missing)."""
        if self.store is None:
            return 0
        source = self.path(key) if source is None else source
        bucket, base = self._bucket_key(key)
        client = self.store.client()
        if source.is_file():
            client.upload_file(str(source), bucket, base)
            return 1
        if not source.is_dir():
            return 0
        written: set[str] = set()
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                name = f"{base}/{path.relative_to(source).as_posix()}"
                client.upload_file(str(path), bucket, name)
                written.add(name)
        stale = [k for k in self._keys(client, bucket, base + "/") if k not in written]
        self._delete(client, bucket, stale)
        return len(written)

    def put_text(self, key: str, text: str) -> None:
        """Write a small object (a marker, a pointer) to the bucket."""
        if self.store is None:
            return
        bucket, name = self._bucket_key(key)
        self.store.client().put_object(Bucket=bucket, Key=name, Body=text.encode())

    def get_text(self, key: str) -> str | None:
        """A small object's text from the bucket; None when there is none (or no bucket)."""
        if self.store is None:
            return None
        return self.store.read_text(self.store.url(self.area, _key(key)))

    def delete(self, key: str) -> int:
        """Delete the bucket's copy of ``key`` (a file, or a folder and all under it)."""
        if self.store is None:
            return 0
        bucket, base = self._bucket_key(key)
        client = self.store.client()
        found = [k for k in self._keys(client, bucket, base) if k == base or k[len(base)] == "/"]
        self._delete(client, bucket, found)
        return len(found)

    # -- reading ------------------------------------------------------------------------

    def load(self, key: str, target: Path | None = None) -> Path | None:
        """The local file or folder of ``key``, first brought from the bucket into
        ``target`` (by default its local place) when it is not there; None when it is in
        neither. A folder is downloaded beside ``target`` and moved into place whole."""
        target = self.path(key) if target is None else target
        if target.exists():
            return target
        if self.store is None:
            return None
        bucket, base = self._bucket_key(key)
        client = self.store.client()
        names = [k for k in self._keys(client, bucket, base) if k == base or k[len(base)] == "/"]
        if not names:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
        try:
            if names == [base]:
                client.download_file(bucket, base, str(partial))
            else:
                root = partial.resolve()
                for name in names:
                    if name == base:
                        continue
                    path = (root / name[len(base) + 1 :]).resolve()
                    if not path.is_relative_to(root) or path == root:
                        raise InvalidInput(f"object {name!r} would land outside {target}")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket, name, str(path))
            try:
                os.replace(partial, target)
            except OSError:  # another reader moved it into place first
                if not target.exists():
                    raise
        finally:
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
        return target

    def keys(self, key: str = "") -> list[str]:
        """The keys (relative to the area) of the bucket's objects under folder ``key``."""
        if self.store is None:
            return []
        url = self.store.url(self.area, _key(key)) if key else self.store.url(self.area)
        bucket, base = url[len("s3://") :].partition("/")[::2]
        return [k[len(base) + 1 :] for k in self._keys(self.store.client(), bucket, base + "/")]

    def sweep(self, max_age_seconds: float) -> int:
        """Delete the bucket's top-level folders of the area (``<area>/<name>/``) whose
        newest object is older than ``max_age_seconds``; how many folders went."""
        if self.store is None:
            return 0
        import time

        bucket, base = self.store.url(self.area)[len("s3://") :].partition("/")[::2]
        client = self.store.client()
        newest: dict[str, float] = {}
        keys: dict[str, list[str]] = {}
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=base + "/"):
            for item in page.get("Contents", []):
                name, slash, _ = item["Key"][len(base) + 1 :].partition("/")
                if not slash:
                    continue
                stamp = item["LastModified"].timestamp()
                newest[name] = max(newest.get(name, stamp), stamp)
                keys.setdefault(name, []).append(item["Key"])
        limit = time.time() - max_age_seconds
        old = [name for name, stamp in newest.items() if stamp < limit]
        self._delete(client, bucket, [k for name in old for k in keys[name]])
        return len(old)

    # -- helpers ------------------------------------------------------------------------

    def _bucket_key(self, key: str) -> tuple[str, str]:
        assert self.store is not None
        url = self.store.url(self.area, _key(key))
        bucket, _, name = url[len("s3://") :].partition("/")
        return bucket, name

    @staticmethod
    def _keys(client: Any, bucket: str, prefix: str) -> list[str]:
        paginator = client.get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    @staticmethod
    def _delete(client: Any, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def files_of(settings: Any, local: Path, area: str) -> Files:
    """The area ``area`` of a workspace whose settings are ``settings``, kept in ``local``
    and, with ``[storage]``, in the bucket's ``<prefix>/<area>/`` (credentials as the lake's)."""
    from atelier.backends.storage import store_from_settings

    return Files(local, store_from_settings(settings.storage), area)
