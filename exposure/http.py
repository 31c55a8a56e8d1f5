"""A small HTTP/1.1 client for the push sender: keep-alive connections pooled per origin.

Why our own and not httpx or aiohttp: the sender's work per notification is encryption plus one
POST, and the POST must cost less than the encryption for sending to keep up with it. POSTing
20,000 encrypted pushes to a loopback receiver on the 2-core host (2026-12-01), httpx managed
about 440/s and aiohttp about 4,400/s (7,800/s on uvloop), against about 18,600/s (21,900/s)
for a client on asyncio streams, while encryption alone ran at 8,000-9,500/s: aiohttp alone
would cost about as much CPU per push as the encryption. This one is an asyncio ``Protocol``
(no stream machinery per read), cheaper still. Push needs a small part of HTTP: a POST with a
body, then the status, a few headers and a small body framed by Content-Length or chunked
encoding (or the end of the connection), over TCP or TLS. Anything else is a malformed answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 64 * 1024  # push services answer with a few bytes; refuse floods


class HttpError(Exception):
    """The request got no answer: connection failure, timeout or malformed response."""


class _Stale(Exception):
    """A kept-alive connection was closed by the server before it answered."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def split_url(url: str) -> tuple[str, str]:
    """(origin, request target): ``https://host:port`` and ``/path?query``, cheaply."""
    slash = url.find("/", url.find("://") + 3)
    return (url, "/") if slash < 0 else (url[:slash], url[slash:].partition("#")[0])


def encode_headers(headers: dict[str, str]) -> bytes:
    """Request header lines as sent, each ending in CRLF (``post_encoded`` takes them)."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[tuple[Response, bool]] | None = None
        self.reused = False
        self.open = True
        self.idle_since = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._settle(complete=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        waiting = self.waiter is not None and not self.waiter.done()
        if waiting and not self.buffer and self.reused:
            assert self.waiter is not None
            self.waiter.set_exception(_Stale())
        self._settle(complete=True)

    def _settle(self, *, complete: bool) -> None:
        """Hand the waiting exchange its answer once the buffer holds all of it (``complete``:
        the server has closed the connection, so nothing more will come)."""
        if self.waiter is None or self.waiter.done():
            return
        try:
            parsed = _parse_response(self.buffer, complete=complete)
        except ValueError as exc:
            self.waiter.set_exception(exc)
            return
        if parsed is not None:
            self.waiter.set_result(parsed)
        elif complete:
            self.waiter.set_exception(ConnectionError("connection closed mid-answer"))

    async def exchange(self, request: bytes) -> tuple[Response, bool]:
        assert self.transport is not None
        self.buffer = b""
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def time_out(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError())
        self.close()

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


def _parse_response(data: bytes, *, complete: bool) -> tuple[Response, bool] | None:
    """(response, keep-alive) once ``data`` holds a whole answer; None while it does not.
    ``complete``: the server closed the connection, which ends a body without framing."""
    if len(data) > MAX_RESPONSE_BYTES:
        raise ValueError("response too large")
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        version, status, headers = _parse_head(data[:end])
        data = data[end + 4 :]
        if status >= 200:
            break  # 1xx interim answers (100 Continue) are skipped
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if status in (204, 304):
        body: bytes | None = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(data)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        body = data[:length] if len(data) >= length else None
    else:
        body, keep = (data if complete else None), False  # framed by the end of the connection
    return None if body is None else (Response(status, headers, body), keep)


def _parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError("not an HTTP/1.x answer")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return version, status, headers


def _dechunk(data: bytes) -> bytes | None:
    """The body of a whole chunked encoding, or None while chunks are still missing."""
    body = b""
    while True:
        line_end = data.find(b"\r\n")
        if line_end < 0:
            return None
        size = int(data[:line_end].split(b";")[0], 16)
        data = data[line_end + 2 :]
        if size == 0:
            return body if data.startswith(b"\r\n") or b"\r\n\r\n" in data else None
        if len(data) < size + 2:
            return None
        body, data = body + data[:size], data[size + 2 :]


class PushHttpClient:
    """POSTs over keep-alive connections, one pool per push-service origin.

    A connection carries one request at a time; concurrency comes from the caller (the
    sender's workers). ``timeout`` bounds the connect and, separately, the answer; a failed or
    timed-out request closes its connection, so a stalled push service costs only its own."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        idle_seconds: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self.tls = tls or ssl.create_default_context()
        self._idle: dict[str, list[_Connection]] = {}
        self._deadlines: dict[_Connection, float] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Response:
        return await self.post_encoded(url, body, encode_headers(headers))

    async def post_encoded(self, url: str, body: bytes, header_lines: bytes) -> Response:
        """``post`` with the headers already encoded (``encode_headers``): a sender that POSTs
        the same headers to one push service thousands of times encodes them once."""
        origin, target = split_url(url)
        host = origin.partition("://")[2]
        request = b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (
            target.encode("latin-1"),
            host.encode("latin-1"),
            len(body),
            header_lines,
            body,
        )
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        try:
            return await self._exchange(origin, request)
        except TimeoutError as exc:
            raise HttpError("timed out") from exc
        except (OSError, ValueError) as exc:
            raise HttpError(type(exc).__name__) from exc

    async def _exchange(self, origin: str, request: bytes) -> Response:
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                return await self._over(connection, origin, request)
            except _Stale:
                pass  # the server closed it while it was idle: once more on a new one
        connection = await self._connect(origin)
        try:
            return await self._over(connection, origin, request)
        except _Stale as exc:
            raise HttpError("connection closed before an answer") from exc

    def _take_idle(self, origin: str) -> _Connection | None:
        pool = self._idle.get(origin, [])
        while pool:
            connection = pool.pop()
            if connection.open and time.monotonic() - connection.idle_since < self.idle_seconds:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: str) -> _Connection:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(f"not an http(s) endpoint: {parts.scheme}://")
        secure = parts.scheme == "https"
        async with asyncio.timeout(self.timeout):
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection,
                parts.hostname,
                parts.port or (443 if secure else 80),
                ssl=self.tls if secure else None,
            )
        return connection

    async def _over(self, connection: _Connection, origin: str, request: bytes) -> Response:
        keep = False
        self._deadlines[connection] = time.monotonic() + self.timeout
        try:
            response, keep = await connection.exchange(request)
            return response
        finally:
            del self._deadlines[connection]
            if keep and connection.open and not self._closed:
                connection.reused = True
                connection.idle_since = time.monotonic()
                self._idle.setdefault(origin, []).append(connection)
            else:
                connection.close()

    async def _watch(self) -> None:
        """Time out answers that are late. One watchdog instead of a timer per request: with
        thousands in flight, arming and cancelling a timer each cost more than the parsing."""
        tick = min(self.timeout / 4, 1.0)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for connection, deadline in list(self._deadlines.items()):
                if deadline <= now:
                    connection.time_out()

    async def aclose(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for pool in self._idle.values():
            for connection in pool:
                connection.close()
        self._idle.clear()
