"""Security headers on every response: a strict policy for the portal, a safe set for tools.

The portal's own pages, the API, errors and static files get a Content-Security-Policy that
runs only scripts served by the portal itself (no inline script, no event-handler attribute, no
``eval``), may not be framed, and sends no form or request anywhere but to the portal. Inline
styles stay allowed: the vendored chart library and htmx write them, and escaping (not the
policy) is what keeps user text out of the markup.

The tools behind the gateway (JupyterLab, MLflow's UI, hosted apps) bring their own scripts and
their own policies, which the portal's would break: they get ``nosniff``, a referrer policy and
``frame-ancestors 'self'`` (as an extra policy: a browser enforces every policy it is given, so
it tightens what the tool sends and never loosens it).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PORTAL_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
TOOL_POLICY = "frame-ancestors 'self'"
#: Proxied tools, each under its own prefix (``/apps/NAME/-/`` are the portal's own pages).
TOOL_PREFIXES = ("/notebooks/", "/collab/", "/mlflow/")


def is_tool(path: str) -> bool:
    if path.startswith(TOOL_PREFIXES):
        return True
    if path.startswith("/apps/"):
        parts = path.split("/", 4)
        return len(parts) > 3 and parts[3] != "-"
    return False


def portal_headers() -> list[tuple[str, str]]:
    return [
        ("content-security-policy", PORTAL_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ]


def tool_headers() -> list[tuple[str, str]]:
    return [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ]


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tool = is_tool(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if tool:
                    for name, value in tool_headers():
                        headers.setdefault(name, value)
                    # Appended, never replacing the tool's own policy.
                    headers.append("content-security-policy", TOOL_POLICY)
                else:
                    for name, value in portal_headers():
                        if name == "content-security-policy":
                            # A route's own policy (a sandbox) stays: both are enforced.
                            headers.append(name, value)
                        else:
                            headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


__all__ = ["PORTAL_POLICY", "TOOL_POLICY", "SecurityHeaders", "is_tool"]
