"""Where a webhook may be delivered: never to this machine, the link-local metadata service or a private
network (SSRF: a key holder would make grid call inside the city's network), unless an allow-list says so."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allow_list(text: str) -> tuple[Network, ...]:
    """Networks from a comma-separated list of addresses or CIDRs (ValueError naming a bad one)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def host_of(url: str) -> str:
    """The host a webhook URL names (ValueError when it has none or is not http(s))."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is http:// or https:// with a host")
    return parts.hostname


def refused(address: str, allowed: Iterable[Network] = ()) -> str | None:
    """Why an address may not receive webhooks (None: it may): loopback, link-local, private, shared,
    reserved, multicast or unspecified addresses are refused unless an allowed network holds them."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return None
    for flag, what in (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_private", "private"),
                       ("is_multicast", "multicast"), ("is_reserved", "reserved"), ("is_unspecified", "unspecified")):
        if getattr(ip, flag):
            return f"{address} is a {what} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None
