"""What Atelier refuses before a request reaches MLflow: artifact paths that leave the store.

MLflow's path-traversal and local-file CVEs share a few shapes: ``..`` segments, absolute
paths, ``file://`` (or any other scheme) where a store-relative path or a store URI is
expected, the same hidden behind percent-encoding (``%2e%2e``, ``%2f``, ``%252e``), ``#`` and
``?`` that make a URI parser and a path joiner disagree, backslashes, NUL bytes, and symlinks in
the artifact folder. Every request to ``/mlflow`` passes :func:`check_path`, :func:`check_query`
and (for JSON bodies) :func:`check_body`; downloads also pass :func:`check_inside` once the
artifact's file is known. Each refusal names the parameter and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from atelier.errors import AtelierError, PermissionDenied


class UnsafeArtifactPath(AtelierError):
    """An artifact path or URI that could reach outside the artifact store."""

    status_code = 400


#: Parameters (query or JSON) holding a path relative to a run's or model's artifact root.
PATH_KEYS = frozenset({"path", "artifact_path", "artifact_file_path", "file_path", "root_path"})
#: Parameters holding an artifact URI, with the schemes MLflow legitimately sends in them.
URI_KEYS: Mapping[str, frozenset[str]] = {
    "source": frozenset({"runs", "models", "mlflow-artifacts"}),
    "artifact_location": frozenset({"mlflow-artifacts"}),
    "artifact_uri": frozenset({"runs", "models", "mlflow-artifacts"}),
    "storage_location": frozenset({"runs", "models", "mlflow-artifacts"}),
    "model_uri": frozenset({"runs", "models", "mlflow-artifacts"}),
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|00)", re.IGNORECASE)


def _refuse(where: str, value: str, why: str) -> UnsafeArtifactPath:
    shown = value if len(value) <= 120 else value[:117] + "..."
    return UnsafeArtifactPath(
        f"refused {where} {shown!r}: {why}; artifact paths must stay inside the artifact store"
    )


def _common(where: str, value: str) -> None:
    """Checks every artifact path or URI gets, whatever its kind."""
    if "\x00" in value:
        raise _refuse(where, value.replace("\x00", "\\0"), "it contains a NUL byte")
    if "\\" in value:
        raise _refuse(where, value, "it contains a backslash")
    if _ENCODED.search(value):
        raise _refuse(where, value, "it is percent-encoded twice")
    if "#" in value or "?" in value:
        raise _refuse(where, value, "it contains '#' or '?'")


def _segments_climb(where: str, value: str, path: str) -> None:
    if ".." in PurePosixPath(path).parts or path.split("/").count("..") or path == "..":
        raise _refuse(where, value, "it contains a '..' segment")


def check_relative(where: str, value: str) -> None:
    """``value`` must be a plain path relative to an artifact root."""
    _common(where, value)
    if _SCHEME.match(value) and not _WINDOWS_DRIVE.match(value):
        scheme = _SCHEME.match(value).group(1)  # type: ignore[union-attr]
        raise _refuse(where, value, f"a {scheme}: URI is not a relative path")
    if value.startswith("/") or _WINDOWS_DRIVE.match(value) or value.startswith("~"):
        raise _refuse(where, value, "it is an absolute path")
    _segments_climb(where, value, value)


def check_uri(where: str, value: str, schemes: Iterable[str]) -> None:
    """``value`` must be a URI of one of ``schemes``, with no host and no climbing path."""
    allowed = sorted(schemes)
    _common(where, value)
    match = _SCHEME.match(value)
    if match is None or _WINDOWS_DRIVE.match(value):
        raise _refuse(where, value, f"expected a {', '.join(s + ':/' for s in allowed)} URI")
    scheme = match.group(1).lower()
    if scheme not in allowed:
        raise _refuse(
            where, value, f"scheme {scheme}: is not allowed here (only {', '.join(allowed)})"
        )
    parts = urlsplit(value)
    if parts.netloc:
        raise _refuse(where, value, f"a {scheme}: URI may not name a host")
    _segments_climb(where, value, parts.path)


def check_path(raw_path: str) -> str:
    """Check the request path as sent (still percent-encoded); return it decoded once."""
    if _ENCODED_SEPARATOR.search(raw_path):
        raise _refuse("URL path", raw_path, "it contains an encoded '/', '\\' or NUL")
    decoded = unquote(raw_path)
    _common("URL path", decoded)
    _segments_climb("URL path", decoded, decoded)
    return decoded


def check_query(params: Iterable[tuple[str, str]]) -> None:
    """Query parameters, decoded once (as the server will see them)."""
    for key, value in params:
        where = f"query parameter {key!r}"
        if "\x00" in value or "\x00" in key:
            raise _refuse(where, value.replace("\x00", "\\0"), "it contains a NUL byte")
        if key in PATH_KEYS:
            check_relative(where, value)
        elif key in URI_KEYS:
            check_uri(where, value, URI_KEYS[key])


def check_body(body: Any, where: str = "JSON body") -> None:
    """Every path or URI field anywhere in a decoded JSON body."""
    if isinstance(body, dict):
        for key, value in body.items():
            inner = f"{where} field {key!r}" if where == "JSON body" else f"{where}.{key}"
            if isinstance(value, str):
                if key in PATH_KEYS:
                    check_relative(inner, value)
                elif key in URI_KEYS:
                    check_uri(inner, value, URI_KEYS[key])
                elif "\x00" in value:
                    raise _refuse(inner, value.replace("\x00", "\\0"), "it contains a NUL byte")
            else:
                check_body(value, inner)
    elif isinstance(body, list):
        for item in body:
            check_body(item, where)


def check_inside(root: Path, relative: str, where: str) -> Path:
    """The file ``relative`` names under ``root``, refused if its real path (symlinks
    followed) leaves ``root``."""
    check_relative(where, relative)
    base = root.resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise PermissionDenied(
            f"refused {where} {relative!r}: it resolves (through a symlink) to a file outside "
            "the artifact store"
        )
    return target
