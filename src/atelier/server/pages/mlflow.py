"""``/mlflow/…``: MLflow's UI and REST API behind Atelier's login.

Every request is authenticated by Atelier (session cookie or ``Authorization: Bearer`` token,
as MLflow clients send ``MLFLOW_TRACKING_TOKEN``), limited to admins and scientists (viewers
cannot see runs), checked by :mod:`atelier.services.tracking.locations` and only then
forwarded to MLflow's server on its private Unix socket. On the way:

* the caller becomes the run's user: ``runs/create`` gets ``user_id`` and the ``mlflow.user``
  tag forced to the Atelier user name (and ``mlflow.user`` cannot be re-tagged later);
  registered models and model versions get an ``atelier.registered_by`` tag;
* the gateway (:mod:`atelier.server.gateway`) forwards it: Atelier's cookie and token are not
  passed on, Host and Origin become the fixed names MLflow's own host/CORS middleware is
  configured to accept, and browser requests that change state must come from Atelier's own
  pages (MLflow's UI cannot send Atelier's CSRF token, so this is the CSRF check here);
* MLflow's page gets Atelier's settings for its UI: no telemetry notice, no assistant
  (:mod:`atelier.server.pages.mlflow_page`).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import Message

from atelier.errors import AtelierError, PermissionDenied
from atelier.server.api.deps import workbench
from atelier.server.gateway import Upstream, allow_gateway, proxy_http, sandboxed
from atelier.server.gateway.guard import GatewayGuard
from atelier.server.gateway.pool import UpstreamPool, kept_pool
from atelier.server.gateway.route import GuardedRoute
from atelier.server.pages.mlflow_owners import check_owners
from atelier.server.pages.mlflow_page import is_page, page_request, with_settings
from atelier.server.pages.mlflow_stored import check_targets, lookup
from atelier.services.auth import Principal
from atelier.services.auth.scopes import TRACKING
from atelier.services.tracking.locations import (
    check_body,
    check_inside,
    check_path,
    check_query,
    endpoint_for,
    store_relative_path,
)
from atelier.services.tracking.server import UPSTREAM_HOST, TrackingServer

#: The proxy's route is called without FastAPI's dependency solving (its guard directly).
router = APIRouter(route_class=GuardedRoute)

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
#: MLflow's own UI: its page and its static files (everything else is data or user files).
_MLFLOW_UI = re.compile(r"^/mlflow/(?:static-files/.*)?$")

MAX_JSON_BODY = 64 * 1024 * 1024


#: Admins and scientists; cookie sessions must come from Atelier's own pages (same origin),
#: since MLflow's UI cannot send Atelier's CSRF token.
#: Jobs' and notebooks' tokens track experiments here; apps' tokens may not.
GUARD = allow_gateway(*ROLES, scopes=(TRACKING,))


class MlflowGuard(GatewayGuard):
    """The gateway's guard, whose refusals come back in MLflow's error format (as a response
    the route returns, since a dependency's exception would reach the app's own handler)."""

    async def __call__(self, connection: HTTPConnection) -> Principal | Response:  # type: ignore[override]
        try:
            return await super().__call__(connection)
        except HTTPException as exc:
            return _refusal(str(exc.detail), exc.status_code)


def _in_mlflow_format(guard: GatewayGuard) -> MlflowGuard:
    """The same guard (its roles and whatever else it checks), refusing in MLflow's format."""
    same = MlflowGuard.__new__(MlflowGuard)
    same.__dict__.update(vars(guard))
    return same


#: :data:`GUARD` for the proxied routes, refusing in MLflow's error format.
PROXY_GUARD = Depends(_in_mlflow_format(GUARD.dependency))


@router.get("/mlflow")
def mlflow_root(_: Principal = GUARD) -> RedirectResponse:
    return RedirectResponse("/mlflow/", status_code=307)


@router.api_route("/mlflow/{rest:path}", methods=METHODS)
async def mlflow_proxy(request: Request, principal: Principal | Response = PROXY_GUARD) -> Response:
    if isinstance(principal, Response):
        return principal
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    try:
        path = check_path(raw_path)
        if _ASSISTANT.match(path):
            raise HTTPException(404, "the MLflow assistant is not available through Atelier")
        server: TrackingServer = workbench(request).tracking_server
        root = server.store.artifacts_dir
        endpoint = endpoint_for(request.method, path)
        if endpoint is not None:
            check_query(endpoint, request.query_params.multi_items(), root)
        body: Any = None
        if request.method in ("PUT", "DELETE") and (match := _ARTIFACT_FILES.match(path)):
            # Not through a symlink that leads out of the store either (GET: _check_download).
            await run_in_threadpool(check_inside, root, match.group(1), "artifact")
        if request.method in ("PUT", "POST") and _is_upload(path):
            # Streamed with its length: MLflow's WSGI side reads no body without one.
            if "content-length" not in request.headers:
                request = _with_body(request, await _read_body(request, limit=None))
        elif request.method in ("POST", "PUT", "PATCH", "DELETE") or (
            request.method == "GET" and _has_body(request)
        ):
            # MLflow reads a JSON body on every method (on GET when there is no query string).
            content = await _read_body(request)
            body = _json(content)
            if body is not None and endpoint is not None:
                check_body(endpoint, body, root)
            content = _attribute(path, body, principal.name) or content
            request = _with_body(request, content)
        if not server.ready:  # a worker thread only while it starts: waiting blocks
            await run_in_threadpool(server.ensure_started)
        await check_targets(server, request.method, path, body, request.query_params)
        # Writes are for the owner, the project's members and admins (mlflow_owners).
        owned = await check_owners(request, principal, path, body)
        if owned.content is not None:
            request = _with_body(request, owned.content)
        if request.method == "GET":
            await _check_download(server, path, request)
    except AtelierError as exc:
        return _refusal(str(exc), exc.status_code)
    except HTTPException as exc:
        return _refusal(str(exc.detail), exc.status_code)
    page = is_page(request.method, path)
    if page:  # MLflow's page gets Atelier's settings for its UI (mlflow_page)
        request = page_request(request)
    response = await proxy_http(request, upstream(server), path, client=_client(server))
    if page:
        response = await with_settings(response)
    await owned.record(response.status_code)
    # Artifacts are user content: only MLflow's own UI may run as a page of the portal's origin.
    return response if _MLFLOW_UI.match(path) else sandboxed(response)


def _has_body(request: Request) -> bool:
    headers = request.headers
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


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
    except RecursionError:
        # MLflow's parser could not read it either: refused here rather than failing as a 500.
        raise HTTPException(400, "the JSON body is nested too deeply to be read") from None
    return body


def _attribute(path: str, body: Any, user: str) -> bytes | None:
    """The body with the caller forced as the user; None when nothing needs to change."""
    if not isinstance(body, dict):
        return None
    if _RUN_CREATE.match(path):
        body.pop("userId", None)  # the JSON spelling of user_id; MLflow refuses both at once
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
        uri = await lookup(server, "runs/get", {"run_id": run_id}, ("run", "info", "artifact_uri"))
    elif path == "/mlflow/model-versions/get-artifact":
        relative = params.get("path", "")
        uri = await lookup(
            server,
            "model-versions/get-download-uri",
            {"name": params.get("name"), "version": params.get("version")},
            ("artifact_uri",),
        )
    elif match := _LOGGED_MODEL_FILES.match(path):
        relative = params.get("artifact_file_path", "")
        uri = await lookup(
            server, f"logged-models/{match.group(1)}", {}, ("model", "info", "artifact_uri")
        )
    if uri is None:
        return
    stored = await _store_relative(server, uri)
    if stored is None:
        raise PermissionDenied(
            f"refused artifact {relative!r}: its location {uri!r} is outside the artifact store"
        )
    target = f"{stored}/{relative}".strip("/") if relative else stored
    await run_in_threadpool(check_inside, root, target, "artifact")


async def _store_relative(server: TrackingServer, uri: str, depth: int = 0) -> str | None:
    """Where an artifact URI lives under the artifact store, if it is there."""
    parts = urlsplit(uri)
    if parts.scheme == "runs" and depth == 0:
        run_id, _, sub = parts.path.strip("/").partition("/")
        root = await lookup(server, "runs/get", {"run_id": run_id}, ("run", "info", "artifact_uri"))
        base = await _store_relative(server, root, depth + 1) if root else None
        return f"{base}/{sub}".strip("/") if base is not None else None
    return store_relative_path(uri, server.store.artifacts_dir)


def _with_body(request: Request, data: bytes) -> Request:
    """``request`` carrying ``data`` as its body (read already, or rewritten)."""
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(len(data)).encode()))
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": data, "more_body": False}

    return Request({**request.scope, "headers": headers}, receive)


def _client(server: TrackingServer) -> UpstreamPool:
    """The kept pool for ``server``'s socket on this event loop (a restarted server on
    another socket gets a new one; idle connections to a stopped one are dropped when used)."""
    return kept_pool("mlflow", upstream(server))


def upstream(server: TrackingServer) -> Upstream:
    """MLflow on its socket, under the one Host and Origin its middleware accepts."""
    return Upstream(f"http://{UPSTREAM_HOST}", uds=str(server.socket_path), name="MLflow's server")


#: MLflow's error codes (``databricks.proto``'s ErrorCode names) for the gateway's refusals.
ERROR_CODES = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",  # what MLflow's clients test for "not there yet"
    503: "TEMPORARILY_UNAVAILABLE",
}


def _refusal(message: str, status_code: int) -> Response:
    """An error in MLflow's own JSON shape (``error_code``, ``message``), so that MLflow
    clients show the message rather than INTERNAL_ERROR; ``detail`` as in Atelier's API."""
    code = ERROR_CODES.get(status_code, "INVALID_PARAMETER_VALUE")
    return Response(
        json.dumps({"error_code": code, "message": message, "detail": message}),
        status_code=status_code,
        media_type="application/json",
    )
