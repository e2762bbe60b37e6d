"""Object storage: the S3 (or S3-compatible) bucket that holds what is data.

One :class:`ObjectStore` (bucket, prefix, endpoint, region, credentials) is built once from
``[storage]`` and handed to what keeps data there: the warehouse (the lake's Parquet files,
read and written by DuckDB's httpfs through a temporary secret) and the MLflow server
(artifacts, through boto3). Credentials never appear in a URL, a log line or a repr.
"""

from __future__ import annotations

from atelier.backends.storage.store import ObjectStore, StorageError, is_s3_url, store_from_settings

__all__ = ["ObjectStore", "StorageError", "is_s3_url", "store_from_settings"]
