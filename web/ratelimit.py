"""Abuse limits: token buckets per client IP and per visitor on the endpoints worth abusing
(check-in, verification, login, certificates). Over the limit, 429 with Retry-After: problem+json
on the API, the error page in the browser.

The buckets live in this process's memory. With several worker processes or hosts each keeps
its own buckets, so a client gets up to N times the limit; such deployments should enforce the
limit in front (the reverse proxy's rate limiting) or in a shared store (docs/security.md).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from web.errors import TooManyRequests, handle_problem
from web.visitors import visitor_token_of

# (method, path) pairs that are limited; paths are regular expressions matched in full.
LIMITED = (
    ("POST", r"/api/visitors"),  # a new visitor per request would dodge the visitor limit
    ("POST", r"/api/checkins"),
    ("POST", r"/c/[^/]+"),
    ("POST", r"/api/qr/verify"),
    ("POST", r"/api/certificates/verify"),
    ("POST", r"/api/certificates"),
    ("POST", r"/api/me/certificates"),
    ("POST", r"/me/certificates"),
    ("POST", r"/login"),
    ("POST", r"/api/tokens"),
)
# One alternation per method: every request is matched against it, limited or not.
_PATTERNS = {
    method: re.compile("|".join(f"(?:{path})" for m, path in LIMITED if m == method))
    for method in {m for m, _ in LIMITED}
}
MAX_BUCKETS = 100_000  # beyond this many keys, the full (idle) buckets are forgotten


def is_limited(method: str, path: str) -> bool:
    pattern = _PATTERNS.get(method)
    return pattern is not None and pattern.fullmatch(path) is not None


@dataclass
class Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """``per_minute`` requests a minute per key, in bursts of up to ``per_minute``."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}
        self.max_buckets = max_buckets
        self.room = max_buckets  # keys held before the idle ones are forgotten

    def take(self, key: str) -> int:
        """Spend a token of ``key``'s bucket: 0 when allowed, else seconds until one is back."""
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:  # every visitor is a new key: forget the idle ones as keys arrive
            if len(self.buckets) >= self.room:
                self.forget_idle(now)
            bucket = self.buckets[key] = Bucket(self.capacity, now)
        else:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))

    def forget_idle(self, now: float) -> None:
        """Drop the buckets that have refilled: a new one starts full, so nothing changes."""
        full_after = self.capacity / self.rate
        self.buckets = {k: b for k, b in self.buckets.items() if now - b.at < full_after}
        # When more than max_buckets keys are active, the next walk waits until the table has
        # doubled: walking costs O(1) a request, amortised, whatever the load.
        self.room = max(self.max_buckets, 2 * len(self.buckets))


def visitor_key(request: Request) -> str | None:
    """The visitor token sent (bearer or cookie); not checked here, the route checks it. A
    forged token only gets its own bucket, and the IP limit still applies."""
    token, _ = visitor_token_of(request)
    return token


class RateLimitMiddleware:
    """429 once a client IP or a visitor has used up its bucket on a limited endpoint."""

    def __init__(self, app: ASGIApp, per_ip: int, per_visitor: int) -> None:
        self.app = app
        self.by_ip = TokenBuckets(per_ip)
        self.by_visitor = TokenBuckets(per_visitor)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_limited(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        client = scope.get("client")
        wait = self.by_ip.take(client[0] if client else "unknown")
        visitor = visitor_key(request)
        if not wait and visitor:
            wait = self.by_visitor.take(visitor)
        if not wait:
            await self.app(scope, receive, send)
            return
        problem = TooManyRequests(f"too many requests; try again in {wait} s", retry_after=wait)
        response = await handle_problem(request, problem)
        await response(scope, receive, send)
