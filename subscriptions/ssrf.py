"""Webhook endpoints may not point into our own network (SSRF): loopback, private, link-local, multicast,
reserved and cloud metadata addresses are refused unless ``FHIRGRAPH_WEBHOOK_ALLOW_PRIVATE=true``.

Checked at registration and again at every delivery, where the delivery then connects to the very address
that was checked (DNS rebinding cannot swap it in between).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200")})


class EndpointRefused(Exception):
    """The endpoint URL is malformed, unresolvable or resolves to a refused address."""


class Unresolvable(EndpointRefused):
    """The endpoint's host does not resolve (now): no address to connect to, and none to refuse either."""


def _blocked(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return (addr in METADATA or addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_multicast
            or addr.is_reserved or addr.is_unspecified or not addr.is_global)


def check_url(url: str) -> tuple[str, str, int]:
    """Shape only: returns (scheme, host, port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused(f"invalid endpoint URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointRefused("the endpoint must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise EndpointRefused("the endpoint may not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve_endpoint(url: str, *, allow_private: bool) -> str:
    """Resolve the endpoint's host (off the event loop) and return the address to connect to."""
    _, host, port = check_url(url)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Unresolvable(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise Unresolvable(f"cannot resolve {host}")
    if not allow_private:
        bad = [a for a in addresses if _blocked(a)]
        if bad:
            raise EndpointRefused(f"{host} resolves to a non-public address ({bad[0]})")
    return str(addresses[0])
