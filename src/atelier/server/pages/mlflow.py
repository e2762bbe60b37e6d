"""``/mlflow/…``: MLflow's UI and REST API behind Atelier's login.

Every request is authenticated by Atelier (session cookie or ``Authorization: Bearer`` token,
as MLflow clients send ``MLFLOW_TRACKING_TOKEN``), limited to admins and scientists (viewers
cannot see runs), checked by :mod:`mlflow_guard` and only then forwarded to MLflow's server on
its private Unix socket. On the way:

* the caller becomes the run's user: ``runs/create`` gets ``user_id`` and the ``mlflow.user``
  tag forced to the Atelier user name (and ``mlflow.user`` cannot be re-tagged later);
  registered models and model versions get an ``atelier.registered_by`` tag;
* Atelier's cookie and token are not passed on; Host and Origin become the fixed names MLflow's
  own host/CORS middleware is configured to accept;
* browser requests that change state must be same-origin (``Sec-Fetch-Site`` or ``Origin``):
  MLflow's UI cannot send Atelier's CSRF token, so this is the CSRF check for this prefix.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from atelier.errors import AtelierError
from atelier.server.api.deps import workbench
from atelier.server.pages.mlflow_guard import (
    check_body,
    check_inside,
    check_path,
    check_query,
)
from atelier.server.security import SAFE_METHODS, RoleGuard
from atelier.services.auth import Principal
from atelier.services.tracking.server import UPSTREAM_HOST, UPSTREAM_ORIGIN, TrackingServer

router = APIRouter()

ROLES = ("admin", "scientist")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
USER_TAG = "mlflow.user"
REGISTERED_BY_TAG = "atelier.registered_by"

_API = r"^/mlflow/(?:ajax-)?api/[0-9.]+/"
_RUN_CREATE = re.compile(_API + r"mlflow/runs/create$")
_RUN_TAGS = re.compile(_API + r"mlflow/runs/(?:set-tag|log-batch)$")
_REGISTRY_CREATE = re.compile(_API + r"mlflow/(?:registered-models|model-versions)/create$")
_ARTIFACT_FILES = re.compile(_API + r"mlflow-artifacts/artifacts/(.*)$")
_LOGGED_MODEL_FILES = re.compile(_API + r"mlflow/logged-models/([^/]+)/artifacts/files$")
#: The MLflow assistant runs tools on the host; it has no place behind a shared login.
_ASSISTANT = re.compile(_API + r"mlflow/assistant")

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers never passed to MLflow: Atelier's credentials and spoofable forwarding info.
_DROPPED = _HOP_BY_HOP | {
    "host",
    "cookie",
    "authorization",
    "origin",
    "referer",
    "content-length",
    "x-csrf-token",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
}
MAX_JSON_BODY = 64 * 1024 * 1024


class MlflowGuard(RoleGuard):
    """The role check of every ``/mlflow`` route, with a same-origin check for browser
    requests that change state instead of Atelier's CSRF token (MLflow's UI cannot send it)."""

    async def __call__(self, request: Request) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            raise HTTPException(401, "not authenticated")
        if principal.role not in self.roles:
            raise HTTPException(
                403,
                f"role {principal.role!r} may not see experiments or models "
                f"(needs {', '.join(sorted(self.roles))})",
            )
        if request.method not in SAFE_METHODS and principal.via == "session":
            check_same_origin(request)
        return principal


#: The dependency of every ``/mlflow`` route.
GUARD = Depends(MlflowGuard(ROLES))


def check_same_origin(request: Request) -> None:
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site in ("same-origin", "none"):
            return
        raise HTTPException(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin is None:
        raise HTTPException(
            403, "a browser request that changes MLflow data must come from Atelier's own pages"
        )
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    public = workbench(request).settings.server.public_url
    if public:
        parts = urlsplit(public)
        own.add(f"{parts.scheme}://{parts.netloc}")
    if origin not in own:
        raise HTTPException(403, f"cross-site request refused (Origin: {origin})")


@router.get("/mlflow")
def mlflow_root(_: Principal = GUARD) -> RedirectResponse:
    return RedirectResponse("/mlflow/", status_code=307)


@router.api_route("/mlflow/{rest:path}", methods=METHODS)
async def mlflow_proxy(request: Request, rest: str, principal: Principal = GUARD) -> Response:
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    try:
        path = check_path(raw_path)
        check_query(request.query_params.multi_items())
        if _ASSISTANT.match(path):
            raise HTTPException(404, "the MLflow assistant is not available through Atelier")
        server: TrackingServer = workbench(request).tracking_server
        await run_in_threadpool(server.ensure_started)
        body: Any = None
        content: Any = None
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            if request.method in ("PUT", "POST") and _is_upload(path):
                # Streamed with its length: MLflow's WSGI side reads no body without one.
                if "content-length" in request.headers:
                    content = request.stream()
                else:
                    content = await _read_body(request, limit=None)
            else:
                content = await _read_body(request)
                body = _json(content)
                if body is not None:
                    check_body(body)
                    rewritten = _attribute(path, body, principal.name)
                    if rewritten is not None:
                        content = rewritten
        elif request.method == "GET":
            await _check_download(server, path, request)
    except AtelierError as exc:
        return _refusal(str(exc), exc.status_code)
    return await _forward(server, request, path, content)


def _is_upload(path: str) -> bool:
    return bool(_ARTIFACT_FILES.match(path)) or path.endswith("/mlflow/upload-artifact")


async def _read_body(request: Request, limit: int | None = MAX_JSON_BODY) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if limit is not None and size > limit:
            raise HTTPException(413, f"request body over {MAX_JSON_BODY // 2**20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(content: bytes) -> Any:
    """The decoded JSON body, as MLflow will read it (it also accepts JSON encoded twice)."""
    if not content.strip():
        return None
    try:
        body = json.loads(content)
        if isinstance(body, str):
            body = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return body


def _attribute(path: str, body: Any, user: str) -> bytes | None:
    """The body with the caller forced as the user; None when nothing needs to change."""
    if not isinstance(body, dict):
        return None
    if _RUN_CREATE.match(path):
        body["user_id"] = user
        body["tags"] = _force_tag(body.get("tags"), USER_TAG, user)
    elif _RUN_TAGS.match(path):
        if body.get("key") == USER_TAG:
            body["value"] = user
        if isinstance(body.get("tags"), list):
            body["tags"] = [
                {**tag, "value": user}
                if isinstance(tag, dict) and tag.get("key") == USER_TAG
                else tag
                for tag in body["tags"]
            ]
    elif _REGISTRY_CREATE.match(path):
        body["tags"] = _force_tag(body.get("tags"), REGISTERED_BY_TAG, user)
    else:
        return None
    return json.dumps(body).encode()


def _force_tag(tags: Any, key: str, value: str) -> list[Any]:
    kept = [t for t in tags if not (isinstance(t, dict) and t.get("key") == key)] if tags else []
    return [*kept, {"key": key, "value": value}]


async def _check_download(server: TrackingServer, path: str, request: Request) -> None:
    """Refuse serving a file whose real path leaves the artifact store (symlinks)."""
    params = request.query_params
    root = server.store.artifacts_dir
    if match := _ARTIFACT_FILES.match(path):
        await run_in_threadpool(check_inside, root, match.group(1), "artifact")
        return
    uri: str | None = None
    relative = ""
    if path == "/mlflow/get-artifact":
        run_id = params.get("run_id") or params.get("run_uuid")
        relative = params.get("path", "")
        uri = await _lookup(server, "runs/get", {"run_id": run_id}, ("run", "info", "artifact_uri"))
    elif path == "/mlflow/model-versions/get-artifact":
        relative = params.get("path", "")
        uri = await _lookup(
            server,
            "model-versions/get-download-uri",
            {"name": params.get("name"), "version": params.get("version")},
            ("artifact_uri",),
        )
    elif match := _LOGGED_MODEL_FILES.match(path):
        relative = params.get("artifact_file_path", "")
        uri = await _lookup(
            server, f"logged-models/{match.group(1)}", {}, ("model", "info", "artifact_uri")
        )
    if uri is None:
        return
    stored = await _store_relative(server, uri)
    if stored is not None:
        target = f"{stored}/{relative}".strip("/") if relative else stored
        await run_in_threadpool(check_inside, root, target, "artifact")


async def _store_relative(server: TrackingServer, uri: str, depth: int = 0) -> str | None:
    """Where an artifact URI lives under the artifact store, if it is there."""
    parts = urlsplit(uri)
    if parts.scheme == "mlflow-artifacts":
        return parts.path.strip("/")
    if parts.scheme == "runs" and depth == 0:
        run_id, _, sub = parts.path.strip("/").partition("/")
        root = await _lookup(
            server, "runs/get", {"run_id": run_id}, ("run", "info", "artifact_uri")
        )
        base = await _store_relative(server, root, depth + 1) if root else None
        return f"{base}/{sub}".strip("/") if base is not None else None
    return None


async def _lookup(
    server: TrackingServer, endpoint: str, params: dict[str, Any], keys: tuple[str, ...]
) -> str | None:
    def get() -> Any:
        response = server.request("GET", f"/ajax-api/2.0/mlflow/{endpoint}", params=params)
        return response.json() if response.status_code == 200 else None

    value = await run_in_threadpool(get)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


async def _forward(server: TrackingServer, request: Request, path: str, content: Any) -> Response:
    import httpx

    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED]
    headers.append(("host", UPSTREAM_HOST))
    if (
        content is not None
        and not isinstance(content, bytes)
        and "content-length" in request.headers
    ):
        headers.append(("content-length", request.headers["content-length"]))
    if "origin" in request.headers:
        # Same-origin was checked above (MlflowGuard); MLflow's CORS check sees its one origin.
        headers.append(("origin", UPSTREAM_ORIGIN))
    client = httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=str(server.socket_path), verify=False),
        timeout=httpx.Timeout(300, connect=10),
    )
    upstream = client.build_request(
        request.method,
        httpx.URL(
            scheme="http",
            host=UPSTREAM_HOST,
            path=path,
            query=request.url.query.encode(),
        ),
        headers=headers,
        content=content,
    )
    try:
        response = await client.send(upstream, stream=True)
    except httpx.TransportError as exc:
        await client.aclose()
        return _refusal(f"MLflow's server did not answer: {exc}", 502)

    async def close() -> None:
        await response.aclose()
        await client.aclose()

    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers={k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP},
        background=BackgroundTask(close),
    )


def _refusal(message: str, status_code: int) -> Response:
    """An error in MLflow's own JSON shape, so MLflow clients show the message."""
    code = "INVALID_PARAMETER_VALUE" if status_code == 400 else "PERMISSION_DENIED"
    return Response(
        json.dumps({"error_code": code, "message": message, "detail": message}),
        status_code=status_code,
        media_type="application/json",
    )
