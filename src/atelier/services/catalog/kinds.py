"""The kinds of source Atelier can attach, the fields each takes, and how each is attached.

Non-secret fields are ``options`` (stored and shown); secret fields (passwords, keys) are
``secrets`` (stored apart, never shown). PostgreSQL, MySQL/MariaDB, SQLite and Parquet/CSV
files are attached by the warehouse backend; S3 is a Parquet/CSV prefix read through DuckDB's
``httpfs`` extension, exposed as one view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.backends.warehouse import Attachment, SourceSpec, attachment
from atelier.backends.warehouse.sql import ident, literal, qualified
from atelier.errors import InvalidInput


@dataclass(frozen=True)
class Kind:
    """What one source type accepts."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    required_secrets: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "postgres": Kind(("host", "database"), ("port", "user"), ("password",)),
    "mysql": Kind(("host",), ("port", "database", "user"), ("password",)),
    "sqlite": Kind(("path",)),
    "parquet": Kind(("path",)),
    "csv": Kind(("path",)),
    "s3": Kind(
        ("bucket",),
        ("prefix", "region", "endpoint", "url_style", "use_ssl", "format", "table"),
        ("key_id", "secret", "session_token"),
    ),
}
TYPES = tuple(KINDS)
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
#: Schemas that belong to the database server, not to the data.
SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys"}
)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_HOST = re.compile(r"[A-Za-z0-9_.:\-\[\]]{1,253}")


def clean(
    kind: str, options: dict[str, Any], secrets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validated, normalised ``(options, secrets)`` for a source of type ``kind``."""
    if kind not in KINDS:
        raise InvalidInput(f"source type {kind!r} is not supported (use one of {', '.join(TYPES)})")
    spec = KINDS[kind]
    misplaced = sorted(set(options) & set(spec.secrets))
    if misplaced:
        raise InvalidInput(
            f"{', '.join(misplaced)} is secret: pass it in secrets, not in options, "
            "so that it is stored apart and never shown"
        )
    unknown = sorted(set(options) - set(spec.required) - set(spec.optional))
    if unknown:
        allowed = ", ".join((*spec.required, *spec.optional))
        raise InvalidInput(
            f"a {kind} source has no option {', '.join(unknown)} (options: {allowed})"
        )
    unknown = sorted(set(secrets) - set(spec.secrets))
    if unknown:
        allowed = ", ".join(spec.secrets) or "none"
        raise InvalidInput(
            f"a {kind} source has no secret {', '.join(unknown)} (secrets: {allowed})"
        )
    values = {k: v for k, v in options.items() if v is not None and v != ""}
    missing = [name for name in spec.required if name not in values]
    if missing:
        raise InvalidInput(f"a {kind} source needs {', '.join(missing)}")
    hidden: dict[str, str] = {}
    for key, value in secrets.items():
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"secret {key} must be text")
        hidden[key] = value
    if kind in DEFAULT_PORTS:
        values = _server(kind, values)
    elif kind == "s3":
        values = _s3(values, hidden)
    else:
        values["path"] = _path(kind, values["path"])
    return values, hidden


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"option {name} must be non-empty text, got {value!r}")
    return value.strip()


def _server(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    host = _text("host", values["host"])
    if not _HOST.fullmatch(host):
        raise InvalidInput(f"option host {host!r} is not a host name or address")
    result: dict[str, Any] = {"host": host, "port": _port(values.get("port", DEFAULT_PORTS[kind]))}
    for key in ("database", "user"):
        if key in values:
            result[key] = _text(key, values[key])
    return result


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if isinstance(value, bool) or not 1 <= port <= 65535:
        raise InvalidInput(f"option port must be a number from 1 to 65535, got {value!r}")
    return port


def _path(kind: str, value: Any) -> str:
    path = Path(_text("path", value)).expanduser().resolve()
    if not path.exists():
        raise InvalidInput(f"option path: {path} does not exist")
    if kind == "sqlite" and not path.is_file():
        raise InvalidInput(f"option path: {path} is not a SQLite database file")
    if kind in ("parquet", "csv") and path.is_file() and path.suffix != f".{kind}":
        raise InvalidInput(f"option path: {path} is not a .{kind} file")
    return str(path)


def _s3(values: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    bucket = _text("bucket", values["bucket"])
    if not _BUCKET.fullmatch(bucket):
        raise InvalidInput(f"option bucket {bucket!r} is not an S3 bucket name")
    prefix = _text("prefix", values["prefix"]).strip("/") if values.get("prefix") else ""
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise InvalidInput(f"option prefix {prefix!r} has an empty, '.' or '..' part")
    result: dict[str, Any] = {"bucket": bucket, "prefix": prefix}
    result["format"] = values.get("format", "parquet")
    if result["format"] not in ("parquet", "csv"):
        raise InvalidInput(f"option format must be parquet or csv, got {result['format']!r}")
    if values.get("table"):
        table = str(values["table"])
    else:
        # Named after the prefix's last part (or the bucket), made into a plain name.
        table = re.sub(r"\W", "_", prefix.rsplit("/", 1)[-1] if prefix else bucket)
        table = table if _TABLE.fullmatch(table) else f"_{table}"[:63]
    if not _TABLE.fullmatch(table):
        raise InvalidInput(f"option table {table!r} is not a plain name (letters, digits, _)")
    result["table"] = table
    for key in ("region", "endpoint"):
        if key in values:
            result[key] = _text(key, values[key])
    if "url_style" in values:
        if values["url_style"] not in ("path", "vhost"):
            raise InvalidInput(
                f"option url_style must be path or vhost, got {values['url_style']!r}"
            )
        result["url_style"] = values["url_style"]
    if "use_ssl" in values:
        result["use_ssl"] = _flag(values["use_ssl"])
    if ("key_id" in secrets) != ("secret" in secrets):
        raise InvalidInput("an s3 source needs both key_id and secret, or neither (public bucket)")
    return result


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidInput(f"option use_ssl must be true or false, got {value!r}")


def build(alias: str, kind: str, options: dict[str, Any], secrets: dict[str, str]) -> Attachment:
    """The read-only :class:`Attachment` of a stored source."""
    if kind == "s3":
        return _s3_attachment(alias, options, secrets)
    spec = SourceSpec(
        kind,  # type: ignore[arg-type]
        host=options.get("host"),
        port=options.get("port"),
        database=options.get("database"),
        user=options.get("user"),
        password=secrets.get("password"),
        path=options.get("path"),
    )
    return attachment(alias, spec)


def s3_url(options: dict[str, Any]) -> str:
    """``s3://bucket/prefix/``: everything the source may read."""
    prefix = options.get("prefix") or ""
    return f"s3://{options['bucket']}/{prefix + '/' if prefix else ''}"


def _s3_attachment(alias: str, options: dict[str, Any], secrets: dict[str, str]) -> Attachment:
    root = s3_url(options)
    fields: list[tuple[str, str]] = []
    for key, name in (
        ("key_id", "KEY_ID"),
        ("secret", "SECRET"),
        ("session_token", "SESSION_TOKEN"),
    ):
        if key in secrets:
            fields.append((name, literal(secrets[key])))
    for key, name in (("region", "REGION"), ("endpoint", "ENDPOINT"), ("url_style", "URL_STYLE")):
        if key in options:
            fields.append((name, literal(str(options[key]))))
    if "use_ssl" in options:
        fields.append(("USE_SSL", "true" if options["use_ssl"] else "false"))
    fields.append(("SCOPE", literal(root)))
    body = ", ".join(f"{key} {value}" for key, value in fields)
    kind = options.get("format", "parquet")
    reader = "read_parquet" if kind == "parquet" else "read_csv"
    pattern = literal(f"{root}**/*.{kind}")
    scan = f"{reader}({pattern}, hive_partitioning = true, union_by_name = true)"
    statements = (
        f"CREATE OR REPLACE TEMPORARY SECRET {ident('atelier_source_' + alias)} (TYPE s3, {body})",
        f"ATTACH ':memory:' AS {ident(alias)}",
        f"CREATE VIEW {qualified(alias, 'main', options['table'])} AS SELECT * FROM {scan}",
    )
    return Attachment(
        alias,
        statements,
        extensions=("httpfs",),
        allowed_directories=(root,),
        secrets=tuple(secrets.values()),
    )
