"""Outbound webhook deliveries over HTTP, only to addresses the target rules allow (checked after DNS)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.grid.domain.webhook_targets import Network, host_of, refused


class TargetRefused(ValueError):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


async def resolve(host: str) -> list[str]:
    """Every address a host name resolves to (the host itself when it is an address literal)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def checked_address(url: str, allowed: Sequence[Network], *, unresolved_ok: bool = False) -> str | None:
    """The address to connect to for `url`, after checking every address its host resolves to; TargetRefused
    when any is refused. A name that does not resolve is None with unresolved_ok (registration: it is checked
    again at delivery), else TargetRefused."""
    try:
        addresses = await resolve(host_of(url))
    except ValueError as exc:
        raise TargetRefused(str(exc)) from None
    except OSError as exc:
        if unresolved_ok:
            return None
        raise TargetRefused(f"{host_of(url)} does not resolve: {exc}") from None
    for address in addresses:
        reason = refused(address, allowed)
        if reason:
            raise TargetRefused(f"webhooks may not target {host_of(url)}: {reason}")
    return addresses[0]


class HttpSender:
    """POSTs a signed body to the address checked for the URL (so a DNS answer cannot change between the check
    and the connection); True when the receiver answered 2xx. Redirects are not followed."""

    def __init__(self, timeout_s: float = 5.0, allowed: Sequence[Network] = ()) -> None:
        self.client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self.allowed = tuple(allowed)

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        address = await checked_address(url, self.allowed)
        parts = urlsplit(url)
        literal = f"[{address}]" if ":" in str(address) else str(address)
        netloc = literal + (f":{parts.port}" if parts.port else "")
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        answer = await self.client.post(pinned, content=body, headers={**headers, "host": parts.netloc},
                                        extensions={"sni_hostname": parts.hostname})
        return answer.is_success

    async def close(self) -> None:
        await self.client.aclose()
