"""The address a request comes from, as the login throttle counts it."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.requests import Request

Network = IPv4Network | IPv6Network


def _is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def client_address(request: Request, proxies: Sequence[Network]) -> str:
    """The socket's peer, unless that peer is a trusted proxy: then the right-most address of
    X-Forwarded-For that is not a trusted proxy (the left-most entries are the client's to forge)."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            return hop[:64]
    return hops[0][:64] if hops else peer
