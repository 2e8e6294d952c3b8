"""A load generator's HTTP/1.1 client: keep-alive connections over asyncio streams, nothing else.

Why not httpx: on this 2-core machine httpx spent ~9 ms of CPU per POST in the pipeline benchmark, as much as
a whole mcc service, and the generator shares the cores with what it measures. This client encodes a request
as bytes and reads a response by its Content-Length (uvicorn answers JSON with one; chunked bodies are read
too): ~0.1 ms per request. It is for benchmarks only: no TLS, no redirects, no proxies, no cookies.

    pool = Pool("127.0.0.1", 8000, size=64)
    status, body = await pool.request("POST", "/api/v1/appeals", json_body={...}, headers={...})
    await pool.close()

A connection idle for longer than `idle_s` (below uvicorn's 5 s keep-alive timeout) is closed rather than reused:
an open-loop run at 200/s over a pool of 200 left some connections idle that long, the server had closed them,
and the posts that found them failed. A connection that breaks anyway is reported as `ConnectionError`; the
caller decides whether to try again (with the same Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Send one request, read its response; (status, body, server keeps the connection)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ConnectionError(f"not an HTTP/1.x response: {lines[0]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = b""
        return status, body, headers.get("connection", "").lower() != "close"

    async def _chunked(self) -> bytes:
        chunks = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Up to `size` keep-alive connections to one server; a request waits for a free one."""

    def __init__(self, host: str, port: int, *, size: int = 64, timeout: float = 60.0, idle_s: float = 3.0) -> None:
        self.host, self.port, self.timeout, self.idle_s = host, port, timeout, idle_s
        self._free: list[tuple[_Connection, float]] = []  # (connection, when it was last answered)
        self._slots = asyncio.Semaphore(size)

    @classmethod
    def for_url(cls, base_url: str, **kwargs: Any) -> Pool:
        """A pool for `http://host:port`."""
        hostport = base_url.split("://", 1)[-1].split("/", 1)[0]
        host, _, port = hostport.partition(":")
        return cls(host, int(port or 80), **kwargs)

    async def request(self, method: str, path: str, *, json_body: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; ConnectionError if the connection broke before the answer."""
        body = json.dumps(json_body, ensure_ascii=False).encode() if json_body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if json_body is not None:
            lines.append("Content-Type: application/json")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        async with self._slots:
            conn = await self._acquire()
            try:
                status, answer, keep = await asyncio.wait_for(conn.exchange(request), self.timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
                conn.close()
                raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
            if keep:
                self._free.append((conn, time.monotonic()))
            else:
                conn.close()
            return status, answer

    async def _acquire(self) -> _Connection:
        while self._free:
            conn, last = self._free.pop()
            if time.monotonic() - last < self.idle_s:
                return conn
            conn.close()  # the server may have closed it already: never send a request into that
        return await self._connect()

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    async def close(self) -> None:
        for conn, _ in self._free:
            conn.close()
        self._free = []
