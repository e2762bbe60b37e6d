"""``[storage]``: what is accepted, the one-line errors, and credentials that never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.backends.storage import ObjectStore, store_from_settings
from atelier.config.loader import load_settings
from atelier.errors import ConfigError


def test_a_bucket_with_credentials_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "atelier.toml"
    config.write_text(
        '[storage]\nbucket = "atelier-data"\nprefix = "/teams/ml/"\n'
        'endpoint = "http://minio:9000/"\nurl_style = "path"\n'
    )
    environ = {
        "ATELIER_STORAGE_ACCESS_KEY_ID": "key",
        "ATELIER_STORAGE_SECRET_ACCESS_KEY": "very-secret",
    }
    settings = load_settings(config, environ)
    assert (settings.storage.prefix, settings.storage.endpoint) == ("teams/ml", "http://minio:9000")
    # `atelier config` prints model_dump(): the credentials are not in it, nor in a repr.
    assert "very-secret" not in str(settings.model_dump())
    assert "very-secret" not in repr(settings)
    store = store_from_settings(settings.storage, {})
    assert store is not None
    assert store.url("lake") == "s3://atelier-data/teams/ml/lake"
    assert "very-secret" not in repr(store)
    assert store.environment()["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    secret = store.duckdb_secret("s", store.url("lake"))
    assert "SCOPE 's3://atelier-data/teams/ml/lake/'" in secret
    assert "ENDPOINT 'minio:9000'" in secret and "USE_SSL false" in secret


def test_aws_variables_are_the_fallback() -> None:
    settings = load_settings(None, {"ATELIER_STORAGE_BUCKET": "atelier-data"})
    environ = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "c"}
    store = store_from_settings(settings.storage, environ)
    assert store == ObjectStore(
        "atelier-data", access_key_id="a", secret_access_key="b", session_token="c"
    )
    with pytest.raises(ConfigError, match="no credentials for bucket 'atelier-data'"):
        store_from_settings(settings.storage, {})
    assert store_from_settings(load_settings(None, {}).storage, environ) is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ATELIER_STORAGE_BUCKET": "Bad_Bucket"}, "must be a bucket name"),
        ({"ATELIER_STORAGE_BUCKET": "ok-bucket", "ATELIER_STORAGE_PREFIX": "a/../b"}, "folder"),
        ({"ATELIER_STORAGE_BUCKET": "ok-bucket", "ATELIER_STORAGE_ENDPOINT": "minio:9000"}, "http"),
        ({"ATELIER_STORAGE_BUCKET": "ok-bucket", "ATELIER_STORAGE_URL_STYLE": "x"}, "vhost"),
        ({"ATELIER_STORAGE_ENDPOINT": "http://minio:9000"}, "name the bucket"),
        (
            {"ATELIER_STORAGE_BUCKET": "ok-bucket", "ATELIER_STORAGE_ACCESS_KEY_ID": "k"},
            "set both access_key_id and secret_access_key",
        ),
        ({"ATELIER_WAREHOUSE_DATA_PATH": "s3://ok-bucket/lake"}, r"configure \[storage\]"),
        ({"ATELIER_WAREHOUSE_DATA_PATH": "gs://ok-bucket/lake"}, "local folder or an s3://"),
        ({"ATELIER_WAREHOUSE_DATA_PATH": "s3://ok-bucket//lake"}, "no empty parts"),
    ],
)
def test_bad_settings_are_one_line_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(None, environ)
    assert "\n" not in str(caught.value)
