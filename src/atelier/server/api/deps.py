"""Shared route helpers."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse

from atelier.services.auth import Principal
from atelier.services.auth import scopes as token_scopes
from atelier.services.workbench import Workbench


def workbench(request: Request) -> Workbench:
    wb: Workbench = request.app.state.workbench
    return wb


def client(request: Request) -> str | None:
    return request.client.host if request.client else None


# -- where a request comes from: on the server, or leaving it ------------------------------

#: The names the server gives the tokens of code it runs itself: a user's notebook server
#: (and its kernels) and a job (see services/notebooks/servers.py, services/jobs/service.py).
SERVER_CODE_LABELS = ("notebook ", "job ")
#: Headers that say a proxy passed the request on: its real client is elsewhere.
FORWARDING_HEADERS = frozenset(
    {
        "forwarded",
        "via",
        "x-real-ip",
        "true-client-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "cf-connecting-ip",
        "fastly-client-ip",
    }
)
FORWARDING_PREFIXES = ("x-forwarded-", "x-original-forwarded-")
#: Seconds the host's own addresses are kept before they are listed again.
ADDRESSES_TTL = 60.0

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_own: tuple[float, frozenset[_Address]] = (0.0, frozenset())
_own_lock = threading.Lock()


def on_server(request: Request, principal: Principal) -> bool:
    """Whether the rows this request reads stay on the server (``remote=False`` for the
    masking plan): only for code the server runs itself — a notebook's or a job's token —
    calling from the server host (loopback or one of the host's own addresses) directly, with
    no proxy's forwarding header. Everything else is remote: a person's token or session, an
    app's token, a notebook token copied to a laptop, any request that went through a proxy
    (whatever the proxy says about its client), a caller whose address is unknown.

    The one place the API decides this; downloads never ask (a file always leaves)."""
    if not is_server_code(principal) or forwarded(request):
        return False
    address = _address(client(request))
    if address is None:
        return False
    if address.is_loopback:
        return True
    server = request.scope.get("server")
    local = _address(server[0]) if server else None
    # A connection whose two ends are the same address is one the host made to itself.
    return address == local or address in own_addresses()


def is_server_code(principal: Principal) -> bool:
    """A token the server made for a notebook server or a job of ``principal``'s (scoped as
    such, named as such); never a person's own token or an app's."""
    label = principal.label or ""
    return (
        principal.via == "token"
        and principal.scopes in (token_scopes.NOTEBOOK, token_scopes.JOB)
        and label.startswith(SERVER_CODE_LABELS)
    )


def forwarded(request: Request) -> bool:
    """Whether a proxy's header is on the request (any value: a forged one counts too)."""
    return any(
        name in FORWARDING_HEADERS or name.startswith(FORWARDING_PREFIXES)
        for name in request.headers
    )


def own_addresses() -> frozenset[_Address]:
    """The addresses of this host's network interfaces (listed again every minute)."""
    global _own
    with _own_lock:
        listed_at, found = _own
        now = time.monotonic()
        if not found or now - listed_at > ADDRESSES_TTL:
            found = _list_addresses()
            _own = (now, found)
        return found


def _list_addresses() -> frozenset[_Address]:
    texts: set[str] = set()
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        families = (socket.AF_INET, socket.AF_INET6)
        for entries in psutil.net_if_addrs().values():
            texts.update(e.address for e in entries if e.family in families)
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            texts.add(str(info[4][0]))
    except OSError:
        pass
    found = {_address(text) for text in texts}
    return frozenset(a for a in found if a is not None and not a.is_unspecified)


def _address(text: str | None) -> _Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def archive_response(archive: Path, filename: str) -> FileResponse:
    """A gzipped tar made in a temporary folder of its own, sent as ``filename``; the
    folder goes once the answer is sent."""
    import shutil

    from starlette.background import BackgroundTask

    return FileResponse(
        archive,
        media_type="application/gzip",
        filename=filename,
        background=BackgroundTask(shutil.rmtree, archive.parent, ignore_errors=True),
    )
