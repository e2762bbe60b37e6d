"""S3 (or any S3-compatible store): a Parquet/CSV prefix read through DuckDB's ``httpfs``
extension and exposed as one view, ``<source>.main.<table>``.

The credentials go into a temporary DuckDB secret scoped to the prefix, and the restricted
connection may read nothing under the bucket but that prefix.
"""

from __future__ import annotations

import re
from typing import Any

from atelier.backends.warehouse import Attachment
from atelier.backends.warehouse.sql import ident, literal, qualified
from atelier.errors import InvalidInput
from atelier.services.catalog.kinds.base import SourceKind, flag, text

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class S3Kind(SourceKind):
    name = "s3"
    required = ("bucket",)
    optional = ("prefix", "region", "endpoint", "url_style", "use_ssl", "format", "table")
    secrets = ("key_id", "secret", "session_token")

    def normalise(self, values: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
        bucket = text("bucket", values["bucket"])
        if not _BUCKET.fullmatch(bucket):
            raise InvalidInput(f"option bucket {bucket!r} is not an S3 bucket name")
        prefix = text("prefix", values["prefix"]).strip("/") if values.get("prefix") else ""
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
                result[key] = text(key, values[key])
        if "url_style" in values:
            if values["url_style"] not in ("path", "vhost"):
                raise InvalidInput(
                    f"option url_style must be path or vhost, got {values['url_style']!r}"
                )
            result["url_style"] = values["url_style"]
        if "use_ssl" in values:
            result["use_ssl"] = flag("use_ssl", values["use_ssl"])
        if ("key_id" in secrets) != ("secret" in secrets):
            raise InvalidInput(
                "an s3 source needs both key_id and secret, or neither (public bucket)"
            )
        return result

    def attach(self, alias: str, options: dict[str, Any], secrets: dict[str, str]) -> Attachment:
        root = s3_url(options)
        fields: list[tuple[str, str]] = []
        for key, name in (
            ("key_id", "KEY_ID"),
            ("secret", "SECRET"),
            ("session_token", "SESSION_TOKEN"),
        ):
            if key in secrets:
                fields.append((name, literal(secrets[key])))
        for key, name in (
            ("region", "REGION"),
            ("endpoint", "ENDPOINT"),
            ("url_style", "URL_STYLE"),
        ):
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
        secret = ident("atelier_source_" + alias)
        statements = (
            f"CREATE OR REPLACE TEMPORARY SECRET {secret} (TYPE s3, {body})",
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


def s3_url(options: dict[str, Any]) -> str:
    """``s3://bucket/prefix/``: everything the source may read."""
    prefix = options.get("prefix") or ""
    return f"s3://{options['bucket']}/{prefix + '/' if prefix else ''}"
