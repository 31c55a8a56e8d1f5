"""Pure ASGI middleware: header and body size limits, security headers and the CSRF cookie.

Pure ASGI (not BaseHTTPMiddleware) so requests stay in their own task, which `databases`
uses to find the task's connection.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.auth import CSRF_COOKIE
from web.errors import BadRequest, HeadersTooLarge, PayloadTooLarge, Problem, handle_problem

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def header_bytes(scope: Scope) -> int:
    """The request line and headers as they came over the wire, about (": " and CRLFs)."""
    line = len(scope["method"]) + len(scope.get("raw_path") or b"") + len(scope["query_string"])
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def head_problem(scope: Scope, max_bytes: int) -> Problem | None:
    """What is wrong with the request line and headers, if anything."""
    if (size := header_bytes(scope)) > max_bytes:
        return HeadersTooLarge(f"the headers are {size} bytes; the limit is {max_bytes}")
    if "\x00" in scope["path"]:
        # A decoded %00 would reach a query as text, which PostgreSQL refuses (a 500).
        return BadRequest("the path contains a NUL character")
    return None


class RequestHeadMiddleware:
    """Refuse a request line and headers over ``max_bytes`` with 431, and a path with a NUL
    in it with 400. The server's parser cannot be relied on for the size: uvicorn's h11 limit
    only counts a header block that arrives in pieces, and a 20 KB one arrives in one read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (problem := head_problem(scope, self.max_bytes)):
            response = await handle_problem(Request(scope), problem)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        limit = self.max_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared and declared.isdigit() and int(declared) > limit:
                raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeadersMiddleware:
    """Security headers on every response, and the CSRF cookie when a page minted one."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                if self.secure:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                cookie = scope.get("state", {}).get("new_csrf_cookie")
                if cookie:
                    secure = "; Secure" if self.secure else ""
                    headers.append(
                        "Set-Cookie",
                        f"{CSRF_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax{secure}",
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)
