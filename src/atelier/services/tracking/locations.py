"""What Atelier refuses before a request reaches MLflow: locations that leave the artifact store.

MLflow's server parses a request body with protobuf's ``ParseDict``, which accepts every field
under its proto name (``artifact_location``) *and* its JSON name (``artifactLocation``); on GET
it reads the query string by proto name only (or, with no query string, the JSON body). So a
check by key name "anywhere in the body" is both too loose (one spelling missed lets a client
choose where the server writes) and too strict (a dataset's ``source`` description is not a
path). This module therefore holds one table, :data:`ENDPOINTS`: for each (method, path) of
MLflow's routes, the fields that really are locations there, each checked in every spelling
MLflow's parser accepts; every other field passes through untouched.

Location kinds:

* ``relative`` — a path under a run's, model's or trace's artifact root (no ``..``, no
  absolute path, no scheme, no percent-encoding left, no ``#``/``?``, backslash or NUL);
* ``forbidden`` — the server assigns it; clients may not choose it at all (an experiment's
  ``artifact_location``, a workspace's artifact root);
* ``source`` — a model version's source: a ``runs:/``, ``models:/`` URI, or a location under
  the server's artifact store (checked further against the run or logged model by
  :mod:`atelier.server.pages.mlflow`);
* ``trace_tags`` / ``trace_tag`` — trace tags MLflow turns into the location it reads a trace's
  data from (``mlflow.artifactLocation``, ``mlflow.trace.archiveLocation``): server-set only.

The URL path itself passes :func:`check_path`; downloads also pass :func:`check_inside` once the
artifact's file is known. Each refusal names the parameter and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from atelier.errors import AtelierError, PermissionDenied


class UnsafeArtifactPath(AtelierError):
    """An artifact path or URI that could reach outside the artifact store."""

    status_code = 400


Kind = Literal["relative", "forbidden", "source", "trace_tags", "trace_tag"]

#: Trace tags from which MLflow's server reads the location of a trace's data.
LOCATION_TRACE_TAGS = frozenset({"mlflow.artifactLocation", "mlflow.trace.archiveLocation"})
#: What MLflow clients send as the source of a prompt version (MLflow checks them exactly).
PROMPT_SOURCES = frozenset({"dummy-source", "prompt-template"})


@dataclass(frozen=True)
class Location:
    """A field that is a location on one endpoint: its proto path from the request message."""

    path: tuple[str, ...]
    kind: Kind


@dataclass(frozen=True)
class Endpoint:
    method: str
    #: The route after ``/mlflow``, with ``{api}`` for ``/api`` or ``/ajax-api`` and ``{v}``
    #: for the API version; ``*`` matches one path segment, ``**`` the rest of the path.
    route: str
    #: Locations in the JSON body (every spelling ``ParseDict`` accepts).
    body: tuple[Location, ...] = ()
    #: Locations in the query string (by exact name, as MLflow's handlers read them).
    query: tuple[Location, ...] = ()
    #: Query parameters the gateway looks things up by (with the locations): given twice they
    #: are refused, since MLflow (Flask) reads the first and Starlette the last.
    single: tuple[str, ...] = ()


def _at(*path: str, kind: Kind = "relative") -> tuple[Location, ...]:
    return (Location(path, kind),)


ENDPOINTS: tuple[Endpoint, ...] = (
    # The server assigns every experiment's artifact root under its artifact store.
    Endpoint(
        "POST",
        "{api}/2.0/mlflow/experiments/create",
        body=_at("artifact_location", kind="forbidden"),
    ),
    Endpoint(
        "POST",
        "{api}/3.0/mlflow/workspaces",
        body=(
            *_at("default_artifact_root", kind="forbidden"),
            *_at("trace_archival_config", "location", kind="forbidden"),
        ),
    ),
    Endpoint(
        "PATCH",
        "{api}/3.0/mlflow/workspaces/*",
        body=(
            *_at("default_artifact_root", kind="forbidden"),
            *_at("trace_archival_config", "location", kind="forbidden"),
        ),
    ),
    Endpoint("POST", "{api}/2.0/mlflow/model-versions/create", body=_at("source", kind="source")),
    # Paths under a run's or logged model's artifact root.
    Endpoint("GET", "{api}/2.0/mlflow/artifacts/list", body=_at("path"), query=_at("path")),
    Endpoint("POST", "{api}/2.0/mlflow/artifacts/presigned-upload-url", body=_at("path")),
    Endpoint("POST", "{api}/2.0/mlflow/artifacts/presigned-download-url", body=_at("path")),
    Endpoint("GET", "{api}/2.0/mlflow-artifacts/artifacts", body=_at("path"), query=_at("path")),
    Endpoint("POST", "{api}/2.0/mlflow-artifacts/mpu/*/**", body=_at("path")),
    Endpoint(
        "GET",
        "{api}/2.0/mlflow/logged-models/*/artifacts/directories",
        body=_at("artifact_directory_path"),
        query=_at("artifact_directory_path"),
    ),
    Endpoint(
        "GET",
        "/ajax-api/2.0/mlflow/logged-models/*/artifacts/files",
        query=_at("artifact_file_path"),
    ),
    Endpoint(
        "POST", "/ajax-api/2.0/mlflow/upload-artifact", query=_at("path"), single=("run_uuid",)
    ),
    Endpoint("GET", "/ajax-api/{v}/mlflow/get-trace-artifact", query=_at("path")),
    Endpoint("GET", "/get-artifact", query=_at("path"), single=("run_id", "run_uuid")),
    Endpoint("GET", "/model-versions/get-artifact", query=_at("path"), single=("name", "version")),
    # Trace tags that MLflow reads a trace's data location from.
    Endpoint("POST", "{api}/2.0/mlflow/traces", body=_at("tags", kind="trace_tags")),
    Endpoint("PATCH", "{api}/2.0/mlflow/traces/*", body=_at("tags", kind="trace_tags")),
    Endpoint(
        "POST",
        "{api}/3.0/mlflow/traces",
        body=_at("trace", "trace_info", "tags", kind="trace_tags"),
    ),
    Endpoint("PATCH", "{api}/{v}/mlflow/traces/*/tags", body=_at("key", kind="trace_tag")),
    Endpoint("DELETE", "{api}/{v}/mlflow/traces/*/tags", body=_at("key", kind="trace_tag")),
)


def _route_regex(route: str) -> re.Pattern[str]:
    pattern = re.escape("/mlflow" + route)
    pattern = pattern.replace(re.escape("{api}"), "/(?:api|ajax-api)")
    pattern = pattern.replace(re.escape("{v}"), r"[0-9]+\.0")
    pattern = pattern.replace(re.escape("**"), ".+").replace(re.escape("*"), "[^/]+")
    return re.compile(f"^{pattern}$")


_ROUTES = [(endpoint, _route_regex(endpoint.route)) for endpoint in ENDPOINTS]


def endpoint_for(method: str, path: str) -> Endpoint | None:
    """The table's entry for a request (``path`` decoded, starting with ``/mlflow``)."""
    for endpoint, regex in _ROUTES:
        if endpoint.method == method and regex.match(path):
            return endpoint
    return None


def json_name(name: str) -> str:
    """A proto field's JSON name, as protoc derives it (``artifact_location`` →
    ``artifactLocation``)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def spellings(name: str) -> tuple[str, ...]:
    """Every key under which ``ParseDict`` reads the field ``name``."""
    camel = json_name(name)
    return (name,) if camel == name else (name, camel)


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
    if (match := _SCHEME.match(value)) and not _WINDOWS_DRIVE.match(value):
        raise _refuse(where, value, f"a {match.group(1)}: URI is not a relative path")
    if value.startswith("/") or _WINDOWS_DRIVE.match(value) or value.startswith("~"):
        raise _refuse(where, value, "it is an absolute path")
    _segments_climb(where, value, value)


def check_stored(where: str, value: str, root: Path) -> None:
    """``value`` must be a location under the artifact store at ``root``: an
    ``mlflow-artifacts:/`` URI (MLflow's artifact proxy, rooted there) or a local path inside
    ``root`` (experiments Atelier itself created on the backend store)."""
    _common(where, value)
    match = _SCHEME.match(value)
    scheme = match.group(1).lower() if match and not _WINDOWS_DRIVE.match(value) else ""
    parts = urlsplit(value)
    if scheme == "mlflow-artifacts":
        if parts.netloc:
            raise _refuse(where, value, "an mlflow-artifacts: URI may not name a host")
        _segments_climb(where, value, parts.path)
        return
    if scheme not in ("", "file"):
        raise _refuse(
            where, value, f"scheme {scheme}: is not allowed here (only mlflow-artifacts:/)"
        )
    if scheme == "file" and parts.netloc not in ("", "localhost"):
        raise _refuse(where, value, "a file: URI may not name a host")
    local = parts.path if scheme == "file" else value
    if not local.startswith("/"):
        raise _refuse(where, value, "expected a mlflow-artifacts:/ URI")
    _segments_climb(where, value, local)
    base = root.resolve()
    target = Path(local).resolve()
    if target != base and base not in target.parents:
        raise _refuse(where, value, "it is outside the server's artifact store")


def check_source(where: str, value: str, root: Path) -> None:
    """A model version's ``source``: a ``runs:/`` or ``models:/`` URI (no host, no climbing;
    MLflow then checks it names the version's run or logged model), a prompt's placeholder,
    or a location under the artifact store."""
    if value in PROMPT_SOURCES:
        return
    _common(where, value)
    match = _SCHEME.match(value)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("runs", "models"):
        parts = urlsplit(value)
        if parts.netloc:
            raise _refuse(where, value, f"a {scheme}: URI may not name a host")
        _segments_climb(where, value, parts.path)
        return
    check_stored(where, value, root)


def _check_trace_tags(where: str, tags: Any) -> None:
    """Trace tags as a list of ``{key, value}`` (API 2.0) or a map (API 3.0)."""
    keys: Iterable[Any]
    if isinstance(tags, Mapping):
        keys = tags.keys()
    elif isinstance(tags, list):
        keys = [tag.get("key") for tag in tags if isinstance(tag, Mapping)]
    else:
        return
    for key in keys:
        _check_trace_tag(where, key)


def _check_trace_tag(where: str, key: Any) -> None:
    if key in LOCATION_TRACE_TAGS:
        raise UnsafeArtifactPath(
            f"refused {where} {key!r}: the server sets where a trace's data lives; "
            "clients cannot set or delete this tag"
        )


def _check_value(where: str, kind: Kind, value: Any, root: Path) -> None:
    if value is None:
        return
    if kind == "trace_tags":
        _check_trace_tags(where, value)
        return
    if kind == "trace_tag":
        _check_trace_tag(where, value)
        return
    if kind == "forbidden":
        if value != "":
            raise UnsafeArtifactPath(
                f"refused {where}: the server chooses it (under its artifact store); leave it out"
            )
        return
    if not isinstance(value, str):
        raise UnsafeArtifactPath(f"refused {where}: expected a string")
    if kind == "relative":
        check_relative(where, value)
    else:
        check_source(where, value, root)


def _values(body: Any, path: tuple[str, ...], where: str) -> Iterable[tuple[str, Any]]:
    """Every value ``ParseDict`` would read for ``path`` in ``body`` (all spellings, every item
    of repeated messages), with where it was found."""
    if not path:
        yield where, body
        return
    if isinstance(body, list):
        for item in body:
            yield from _values(item, path, where)
        return
    if not isinstance(body, Mapping):
        return
    for key in spellings(path[0]):
        if key in body:
            yield from _values(body[key], path[1:], f"{where}.{key}" if where else key)


def check_body(endpoint: Endpoint, body: Any, root: Path) -> None:
    """The endpoint's locations in a decoded JSON body."""
    for location in endpoint.body:
        for where, value in _values(body, location.path, ""):
            _check_value(f"field {where!r}", location.kind, value, root)


def check_query(endpoint: Endpoint, params: Iterable[tuple[str, str]], root: Path) -> None:
    """The endpoint's locations in the query string, decoded once (as MLflow reads it)."""
    names = {location.path[0]: location.kind for location in endpoint.query}
    single = set(names) | set(endpoint.single)
    seen: set[str] = set()
    for key, value in params:
        if key in single and key in seen:
            raise UnsafeArtifactPath(f"refused query parameter {key!r}: it is given more than once")
        seen.add(key)
        if key in names:
            _check_value(f"query parameter {key!r}", names[key], value, root)


def check_path(raw_path: str) -> str:
    """Check the request path as sent (still percent-encoded); return it decoded once."""
    if _ENCODED_SEPARATOR.search(raw_path):
        raise _refuse("URL path", raw_path, "it contains an encoded '/', '\\' or NUL")
    decoded = unquote(raw_path)
    _common("URL path", decoded)
    _segments_climb("URL path", decoded, decoded)
    return decoded


def store_relative_path(uri: str, root: Path) -> str | None:
    """Where an artifact URI lives under the artifact store (``root``), if it is there."""
    parts = urlsplit(uri)
    if parts.scheme == "mlflow-artifacts" and not parts.netloc:
        return parts.path.strip("/")
    if parts.scheme in ("", "file") and not parts.netloc:
        base = root.resolve()
        target = Path(parts.path).resolve()
        if parts.path.startswith("/") and target == base:
            return ""
        if parts.path.startswith("/") and base in target.parents:
            return target.relative_to(base).as_posix()
    return None


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
