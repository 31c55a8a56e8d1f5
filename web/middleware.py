"""Pure ASGI middleware: header and body size limits, security headers and the CSRF cookie.

Pure ASGI (not BaseHTTPMiddleware) so requests stay in their own task, which `databases`
uses to find the task's connection.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.auth import CSRF_COOKIE
from web.errors import (
    API_PREFIXES,
    BadRequest,
    HeadersTooLarge,
    PayloadTooLarge,
    Problem,
    handle_problem,
)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# What the API answers (`API_PREFIXES`, the paths whose errors are problem+json) is data: JSON,
# CSV, poster downloads, never a page. Opened as a document it may load and run nothing (as
# GitHub's API does). Shorter, too: h11 checks every header value with a regular expression,
# on the check-in hot path as well.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


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


COMMON_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
PAGE_SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    *COMMON_SECURITY_HEADERS,
)
API_SECURITY_HEADERS = (
    (b"content-security-policy", API_CONTENT_SECURITY_POLICY.encode()),
    *COMMON_SECURITY_HEADERS,
)
HSTS = (b"strict-transport-security", b"max-age=31536000")


class RequestGuardMiddleware:
    """What every HTTP request and response goes through, in one layer (each ASGI layer costs
    a coroutine and a wrapped ``send`` per request, on the check-in hot path too):

    - a request line and headers over ``max_header_bytes`` get 431, a path with a NUL in it
      400. The server's parser cannot be relied on for the size: uvicorn's h11 limit only
      counts a header block that arrives in pieces, and a 20 KB one arrives in one read;
    - a body over ``max_body_bytes`` gets 413, by its Content-Length or while streaming;
    - every response gets the security headers it does not set itself (an API answer a CSP
      that allows nothing, a page the pages' CSP), and the CSRF cookie when a page minted one.
    """

    def __init__(
        self, app: ASGIApp, max_header_bytes: int, max_body_bytes: int, secure: bool
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.secure = secure
        tls = (HSTS,) if secure else ()
        self.page_headers = (*PAGE_SECURITY_HEADERS, *tls)
        self.api_headers = (*API_SECURITY_HEADERS, *tls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add_headers(scope, message)
            await send(message)

        if problem := head_problem(scope, self.max_header_bytes):
            response = await handle_problem(Request(scope), problem)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, self._limited(scope, receive), send_with_headers)

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        declared = Headers(scope=scope).get("content-length")
        limit = self.max_body_bytes
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

        return limited_receive

    def _add_headers(self, scope: Scope, message: Message) -> None:
        headers = message.setdefault("headers", [])
        if not isinstance(headers, list):
            headers = message["headers"] = list(headers)
        present = {name.lower() for name, _ in headers}
        api = scope["path"].startswith(API_PREFIXES)
        security_headers = self.api_headers if api else self.page_headers
        headers.extend(pair for pair in security_headers if pair[0] not in present)
        cookie = scope.get("state", {}).get("new_csrf_cookie")
        if cookie:
            secure = "; Secure" if self.secure else ""
            value = f"{CSRF_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax{secure}"
            headers.append((b"set-cookie", value.encode("latin-1")))
