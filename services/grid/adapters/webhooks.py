"""Outbound webhook deliveries over HTTP."""

from __future__ import annotations

import httpx


class HttpSender:
    """POSTs a signed body; True when the receiver answered 2xx."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        answer = await self.client.post(url, content=body, headers=headers)
        return answer.is_success

    async def close(self) -> None:
        await self.client.aclose()
