"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import Signer
from starlette.exceptions import HTTPException

import atelier
from atelier.errors import AtelierError, HeldElsewhere
from atelier.server import api, pages
from atelier.server.body_limit import BodyLimit, Limits
from atelier.server.gateway.jupyter_tokens import JupyterTokens
from atelier.server.gateway.peers import pass_on
from atelier.server.gateway.pool import close_kept_pools
from atelier.server.headers import SecurityHeaders
from atelier.server.pages.errors import http_error, wants_page
from atelier.server.pages.mlflow import router as mlflow_router
from atelier.server.pages.notebooks import notebook_lifespan
from atelier.server.security import AuthMiddleware, check_every_route
from atelier.services.workbench import Workbench

STATIC = Path(__file__).parent / "static"


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Jupyter servers reaped while the app runs; kept connections closed when it stops."""
    # Webhook deliveries left waiting (queued by the CLI, or before a restart) are sent.
    app.state.workbench.webhooks.resume()
    try:
        async with notebook_lifespan(app):
            yield
    finally:
        await close_kept_pools()


def create_app(workbench: Workbench) -> FastAPI:
    app = FastAPI(
        title="Atelier",
        version=atelier.__version__,
        openapi_url=None,  # served under /api/v1 behind auth instead
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.workbench = workbench
    app.state.signer = Signer(workbench.workspace.secret_key(), salt="atelier.session")

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": atelier.__version__}

    # MLflow's proxy first: its calls (a client logs one metric a call) are then matched
    # against two routes, not every route of the API and the portal. Nothing else lies
    # under /mlflow, so the order changes no answer.
    app.include_router(mlflow_router, include_in_schema=False)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # Portal pages get an HTML error page; API routes keep JSON.
    app.add_exception_handler(HTTPException, http_error)

    # A running job's log asked of another server than its machine's: passed on there.
    app.add_exception_handler(HeldElsewhere, pass_on)  # type: ignore[arg-type]

    @app.exception_handler(AtelierError)
    async def atelier_error(request: Request, exc: AtelierError) -> Response:
        # An error may carry headers for the client (a 503's Retry-After).
        headers = getattr(exc, "headers", None)
        if exc.status_code in (403, 404) and wants_page(request):
            return await http_error(request, HTTPException(exc.status_code, str(exc)))
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    check_every_route(app)
    app.add_middleware(AuthMiddleware, workbench=workbench, signer=app.state.signer)
    # Jupyter's token spellings under /notebooks/, read before AuthMiddleware looks.
    app.add_middleware(JupyterTokens)
    # Outermost: a body over its limit is refused before anyone is looked up, and every
    # answer (a 401, a 413, a 404) carries the security headers.
    app.add_middleware(BodyLimit, limits=Limits.from_settings(workbench.settings.server))
    app.add_middleware(SecurityHeaders)
    return app
