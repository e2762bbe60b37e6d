"""The wire contract between Atelier's server and its clients.

``atelier.contract`` holds what both sides of the HTTP API must agree on: the constants below
(paths, media types, headers, metadata keys) and, in one module per domain, the pydantic
request and response models that the API declares and the remote SDK client parses. It imports
nothing from Atelier but :mod:`atelier.errors`, so the server and a laptop's light client share
it without pulling each other's dependencies.
"""

from __future__ import annotations

#: Every API route lives under this prefix.
API_PREFIX = "/api/v1"
#: Arrow IPC stream: query results, uploaded DataFrames, feature rows.
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: Query results as files (``POST /api/v1/sql/download?format=``): format name to media type.
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
DOWNLOAD_FORMATS = {"csv": CSV, "parquet": PARQUET}
#: The id of a query whose rows an Arrow response streams (to cancel it, to find it in history).
QUERY_ID_HEADER = "X-Atelier-Query-Id"
#: Keys of the schema metadata of the empty batch that reports an error mid-stream.
ERROR_KEY = "atelier_error"
STATUS_KEY = "atelier_status"
#: Seconds the server asks a client to wait before retrying (an environment being built).
RETRY_AFTER_HEADER = "Retry-After"
#: Environment variables that point a client at a server and name who it acts as.
URL_ENV = "ATELIER_URL"
TOKEN_ENV = "ATELIER_TOKEN"
WORKSPACE_ENV = "ATELIER_WORKSPACE"
PROJECT_ENV = "ATELIER_PROJECT"
