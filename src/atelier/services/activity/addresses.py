"""Where webhooks may send: the public internet, and the networks an admin allows.

A webhook URL is chosen by any user, and the server makes the request: without a rule, anyone
could make the server call its own internal services (MLflow, Jupyter and hosted apps listen on
loopback), the cloud's metadata address (169.254.169.254) or the company's private network. So
every address the name resolves to must be global, or inside one of the
``notifications.webhook_networks`` an admin configured; the check runs when a webhook is saved
and again before each delivery, and the delivery connects to the address that was checked (a
name that resolves elsewhere a second later gains nothing). Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from atelier.errors import InvalidInput

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL = 2048


def check_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a webhook URL, or a one-line InvalidInput."""
    url = (url or "").strip()
    if len(url) > MAX_URL:
        raise InvalidInput(f"webhook URL too long: at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"webhook URL {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"webhook URL {url!r} must start with https:// or http://")
    if not parts.hostname:
        raise InvalidInput(f"webhook URL {url!r} names no host")
    if parts.username or parts.password:
        raise InvalidInput("webhook URL must not carry a user name or password")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


#: IPv6 prefixes whose last 32 bits are an IPv4 address that a gateway reaches (NAT64, the
#: deprecated IPv4-compatible form).
_CARRY_IPV4 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96"))


def carried(address: _Address) -> _Address:
    """The address a packet to ``address`` ends at, as far as it can be told: the IPv4
    address that an IPv4-mapped, 6to4, NAT64 or IPv4-compatible IPv6 address carries."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _CARRY_IPV4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def resolve(host: str, port: int, allowed: Iterable[str]) -> _Address:
    """The first address of ``host``, once every address it resolves to is allowed."""
    networks: list[_Network] = [ipaddress.ip_network(n, strict=False) for n in allowed]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"webhook host {host!r} does not resolve: {exc}") from None
    addresses: list[_Address] = []
    for info in infos:
        addresses.append(carried(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])))
    for address in addresses:
        inside = any(address.version == n.version and address in n for n in networks)
        if not inside and not address.is_global:
            raise InvalidInput(
                f"webhook host {host!r} resolves to {address}, an internal address: webhooks "
                "reach public addresses only, unless an admin allows the network in "
                "notifications.webhook_networks"
            )
    if not addresses:
        raise InvalidInput(f"webhook host {host!r} has no address")
    return addresses[0]
