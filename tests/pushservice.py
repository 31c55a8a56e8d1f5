"""A Web Push service on loopback for tests and the bench: real HTTP, served by uvicorn.

Each device is ``/push/<name>``. The service checks the VAPID JWT (ES256 signature with the
``k`` key; ``aud`` the origin with its port, ``exp`` within 24 hours, ``sub`` a contact),
decrypts the body with the device's private key using the independent ``http_ece`` package,
and answers what the test scripted for that device (201 by default; 404, 410, 429, 500, or
"stall" to hold the request open).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import http_ece
import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STALL = "stall"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Device:
    """A browser's push subscription: its key pair and auth secret."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def keys(self) -> dict[str, str]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": _b64(point), "auth": _b64(self.auth)}

    def subscription(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": self.keys()}


@dataclass
class Received:
    device: str
    payload: dict[str, Any] | None
    headers: dict[str, str]
    claims: dict[str, Any]


def verify_vapid(header: str, origin: str) -> dict[str, Any]:
    """Check a ``vapid t=..., k=...`` header (RFC 8292); returns the claims or raises."""
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid", header
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    token, key = fields["t"], fields["k"]
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(key))
    head, body, signature = token.split(".")
    assert json.loads(_unb64(head))["alg"] == "ES256"
    raw = _unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(_unb64(body))
    assert claims["aud"] == origin, (claims["aud"], origin)
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
    assert claims["sub"].startswith(("mailto:", "https:")), claims
    return claims


class PushService:
    """Start with ``with PushService() as service:``; make devices with ``service.device()``."""

    def __init__(self, *, decrypt: bool = True, port: int = 0) -> None:
        self.decrypt = decrypt
        self.devices: dict[str, Device] = {}
        self.script: dict[str, deque[int | str]] = defaultdict(deque)
        self.received: list[Received] = []
        self.rejected: list[str] = []
        self.count = 0
        self._verified: dict[str, dict[str, Any]] = {}
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        sock.close()
        self.origin = f"http://127.0.0.1:{self.port}"
        app = Starlette(routes=[Route("/push/{name}", self.receive, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> PushService:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "push service did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def device(self, name: str) -> Device:
        found = Device(name, f"{self.origin}/push/{name}")
        self.devices[name] = found
        return found

    def answer(self, name: str, *statuses: int | str) -> None:
        """Script the next answers for device ``name``; afterwards it answers 201."""
        self.script[name].extend(statuses)

    def payloads(self, name: str) -> list[dict[str, Any] | None]:
        return [r.payload for r in self.received if r.device == name]

    def vapid_claims(self, header: str) -> dict[str, Any]:
        """Verify a VAPID header, once per distinct token (senders reuse one for hours)."""
        claims = self._verified.get(header)
        if claims is None or claims["exp"] <= time.time():
            claims = self._verified[header] = verify_vapid(header, self.origin)
        return claims

    async def receive(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        try:
            claims = self.vapid_claims(request.headers["authorization"])
            assert request.headers["content-encoding"] == "aes128gcm"
            assert int(request.headers["ttl"]) >= 0
            payload = None
            if self.decrypt:
                device = self.devices[name]
                plain = http_ece.decrypt(
                    body, private_key=device.private_key, auth_secret=device.auth
                )
                payload = json.loads(plain)
        except (AssertionError, KeyError, InvalidSignature, ValueError) as exc:
            self.rejected.append(f"{name}: {exc!r}")
            return Response(status_code=400)
        answer = self.script[name].popleft() if self.script[name] else 201
        if answer == STALL:
            await asyncio.sleep(3600)
        self.count += 1
        self.received.append(Received(name, payload, dict(request.headers), claims))
        headers = {"retry-after": "60"} if answer == 429 else {}
        return Response(status_code=int(answer), headers=headers)


class LeanReceiver(asyncio.Protocol):
    """One connection to the bench's push service: HTTP/1.1 keep-alive, parsed by hand.

    It is still a Web Push receiver (the POST, a verified VAPID JWT, aes128gcm, a TTL; 201), but
    lean, so that on a small host it leaves the CPU to the sender being measured. A VAPID header
    seen before is not verified again: the sender reuses one JWT per push service for hours."""

    verified: ClassVar[dict[bytes, float]] = {}
    accepted: ClassVar[int] = 0
    origin: ClassVar[str] = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.answer(lines[0], headers, length))

    def answer(self, request_line: bytes, headers: dict[bytes, bytes], length: int) -> bytes:
        method, path, _ = request_line.split(b" ")
        if method == b"GET" and path == b"/stats":
            body = json.dumps({"accepted": LeanReceiver.accepted}).encode()
            return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        try:
            assert method == b"POST" and path.startswith(b"/push/"), request_line
            assert headers[b"content-encoding"] == b"aes128gcm" and length > 0
            assert int(headers[b"ttl"]) >= 0 and headers[b"urgency"]
            self.check_vapid(headers[b"authorization"])
        except (AssertionError, KeyError, InvalidSignature, ValueError):
            return b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
        LeanReceiver.accepted += 1
        return b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"

    def check_vapid(self, header: bytes) -> None:
        expires = self.verified.get(header)
        if expires is None or expires <= time.time():
            claims = verify_vapid(header.decode(), self.origin)
            self.verified[header] = claims["exp"]


async def serve_lean(port: int) -> None:
    LeanReceiver.origin = f"http://127.0.0.1:{port}"
    server = await asyncio.get_running_loop().create_server(LeanReceiver, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    """``python -m tests.pushservice PORT``: the bench's lean receiver (VAPID checked, 201),
    on uvloop (installed with uvicorn[standard]) so that it takes less of the sender's CPU."""
    import sys

    import uvloop

    uvloop.run(serve_lean(int(sys.argv[1])))


if __name__ == "__main__":
    main()
