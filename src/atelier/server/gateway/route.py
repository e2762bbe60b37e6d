"""A route for the gateway's busiest path: its guard called directly, not through FastAPI.

FastAPI resolves a route's parameters and dependencies anew on every request (about a tenth of
what the gateway spends on a small MLflow call). A proxied route needs none of that: its
endpoint takes the request and the caller its guard lets through, and reads everything else
from the request itself. :class:`GuardedRoute` (``APIRouter(route_class=GuardedRoute)``) calls
exactly those two for such an endpoint, so the guard is still declared in the signature, where
:func:`~atelier.server.security.check_every_route` and
:func:`~atelier.server.security.app_routes` find it, and it is checked before the endpoint
runs, as FastAPI would. A route that asks for anything else is built by FastAPI as usual.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from atelier.server.security import RoleGuard


class GuardedRoute(APIRoute):
    """An :class:`APIRoute` whose endpoint ``async def f(request, principal=<guard>)`` (and
    nothing else) is called with the guard checked directly; it must return a Response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        plain = _plain(self)
        if plain is None:
            return super().get_route_handler()
        guard, request_name, principal_name = plain
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            principal = await guard(request)  # refuses (raises) before the endpoint runs
            response: Response = await endpoint(
                **{request_name: request, principal_name: principal}
            )
            return response

        return handle


def _plain(route: APIRoute) -> tuple[RoleGuard, str, str] | None:
    """The guard and the parameter names of an endpoint that takes only the request and the
    guard's caller; None for any other."""
    dependant = route.dependant
    if not inspect.iscoroutinefunction(route.endpoint) or dependant.request_param_name is None:
        return None
    others: list[Any] = [
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    ]
    named = (
        dependant.websocket_param_name,
        dependant.http_connection_param_name,
        dependant.response_param_name,
        dependant.background_tasks_param_name,
        dependant.security_scopes_param_name,
    )
    if any(others) or any(named) or len(dependant.dependencies) != 1:
        return None
    (dependency,) = dependant.dependencies
    guard = dependency.call
    if not isinstance(guard, RoleGuard) or dependency.name is None:
        return None
    # The guard's own parameters: the connection alone.
    inner = dependency
    if (
        inner.dependencies
        or any([inner.path_params, inner.query_params, inner.header_params])
        or any([inner.cookie_params, inner.body_params])
    ):
        return None
    return guard, dependant.request_param_name, dependency.name


__all__ = ["GuardedRoute"]
