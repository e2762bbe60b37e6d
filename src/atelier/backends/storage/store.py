"""The bucket and how to reach it: URLs under the prefix, a DuckDB secret, a boto3 client.

Credentials come from ``[storage]`` (set through ``ATELIER_STORAGE_*`` variables, not the
file) or else from the usual ``AWS_*`` variables; they are resolved once, when the store is
built, so that a missing one is a clear error at start-up rather than a 403 mid-upload.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier.config.settings import StorageSettings
from atelier.errors import ConfigError


class StorageError(ConfigError):
    """Object storage is misconfigured or unreachable."""


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_s3_url(location: object) -> bool:
    """Whether ``location`` names an object in S3 rather than a local path."""
    return isinstance(location, str) and location.lower().startswith("s3://")


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``."""
    if not is_s3_url(url):
        raise StorageError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key


@dataclass(frozen=True)
class ObjectStore:
    """One bucket (and a prefix in it), with the endpoint and credentials to reach it."""

    bucket: str
    prefix: str = ""
    endpoint: str = ""
    region: str = "us-east-1"
    url_style: str = "vhost"
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)

    def url(self, *parts: str) -> str:
        """``s3://bucket/prefix/part/...`` (no trailing slash)."""
        keys = [p.strip("/") for p in (self.prefix, *parts) if p.strip("/")]
        return "/".join([f"s3://{self.bucket}", *keys])

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from any error text."""
        return tuple(v for v in (self.secret_access_key, self.session_token) if v)

    # -- DuckDB --------------------------------------------------------------------------

    def duckdb_secret(self, name: str, scope: str) -> str:
        """SQL creating a temporary S3 secret ``name`` that applies under ``scope`` only.

        Temporary: it lives in the connection's memory and is never written to disk;
        ``duckdb_secrets()`` shows it redacted and the unredacted view is off by default.
        """
        options = [
            "TYPE s3",
            f"KEY_ID {_literal(self.access_key_id)}",
            f"SECRET {_literal(self.secret_access_key)}",
            f"REGION {_literal(self.region)}",
            f"URL_STYLE {_literal(self.url_style)}",
            f"SCOPE {_literal(scope.rstrip('/') + '/')}",
        ]
        if self.session_token:
            options.append(f"SESSION_TOKEN {_literal(self.session_token)}")
        if self.endpoint:
            scheme, _, host = self.endpoint.partition("://")
            options.append(f"ENDPOINT {_literal(host)}")
            options.append(f"USE_SSL {'true' if scheme == 'https' else 'false'}")
        return f"CREATE OR REPLACE TEMPORARY SECRET {_ident(name)} ({', '.join(options)})"

    # -- boto3 ---------------------------------------------------------------------------

    def client(self) -> Any:
        """A boto3 S3 client for this store."""
        import boto3
        from botocore.config import Config

        style = "path" if self.url_style == "path" else "virtual"
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint or None,
            region_name=self.region,
            aws_access_key_id=self.access_key_id or None,
            aws_secret_access_key=self.secret_access_key or None,
            aws_session_token=self.session_token or None,
            config=Config(s3={"addressing_style": style}, retries={"mode": "standard"}),
        )

    def delete_under(self, url: str) -> int:
        """Delete every object under the folder ``url``; how many were deleted."""
        bucket, key = split_url(url)
        prefix = key.rstrip("/") + "/"
        client = self.client()
        deleted = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted

    def keys_under(self, url: str) -> list[str]:
        """The keys of every object under the folder ``url``."""
        bucket, key = split_url(url)
        prefix = key.rstrip("/") + "/"
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def download_folder(self, url: str, target: Path) -> Path:
        """Copy every object under the folder ``url`` into ``target`` (made if missing)."""
        bucket, key = split_url(url)
        prefix = key.rstrip("/") + "/"
        client = self.client()
        root = target.resolve()
        for name in self.keys_under(url):
            path = (root / name[len(prefix) :]).resolve()
            if not path.is_relative_to(root):  # a key with ../ in it
                raise StorageError(f"object {name!r} would land outside {root}")
            path.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, name, str(path))
        return target

    def read_text(self, url: str) -> str | None:
        """The text of the object at ``url``; None when there is none."""
        from botocore.exceptions import ClientError

        bucket, key = split_url(url)
        try:
            body = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(body).decode(errors="replace")

    def check(self) -> None:
        """Reach the bucket once; a clear error if it is missing or the credentials fail."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client().head_bucket(Bucket=self.bucket)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            raise StorageError(
                f"storage: cannot use bucket {self.bucket!r} at {self.endpoint or 'AWS'} "
                f"(error {code}): check storage.bucket and the credentials"
            ) from None
        except BotoCoreError as error:
            raise StorageError(f"storage: cannot reach {self.endpoint or 'AWS'}: {error}") from None

    # -- other processes -----------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """Variables that point boto3-based tools (MLflow's artifact store) at this store."""
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        if self.endpoint:
            env["MLFLOW_S3_ENDPOINT_URL"] = self.endpoint
        return env


def store_from_settings(
    settings: StorageSettings, environ: Mapping[str, str] | None = None
) -> ObjectStore | None:
    """The configured store, or None when ``[storage]`` names no bucket."""
    if not settings.bucket:
        return None
    environ = os.environ if environ is None else environ
    key_id = settings.access_key_id or environ.get("AWS_ACCESS_KEY_ID", "")
    secret = settings.secret_access_key or environ.get("AWS_SECRET_ACCESS_KEY", "")
    token = settings.session_token or environ.get("AWS_SESSION_TOKEN", "")
    if not key_id or not secret:
        raise StorageError(
            f"storage: no credentials for bucket {settings.bucket!r}: set "
            "ATELIER_STORAGE_ACCESS_KEY_ID and ATELIER_STORAGE_SECRET_ACCESS_KEY "
            "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    return ObjectStore(
        bucket=settings.bucket,
        prefix=settings.prefix,
        endpoint=settings.endpoint,
        region=settings.region,
        url_style=settings.url_style,
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=token,
    )
