"""The push sender's HTTP/1.1 client against a scripted server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from exposure.http import HttpError, PushHttpClient, Response, split_url

CLOSE = b""  # scripted "answer": close the connection without answering


@dataclass
class Scripted:
    """Answers each request with the next raw bytes of ``answers``; counts connections."""

    answers: list[bytes]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    origin: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                if answer == CLOSE:
                    break
                if answer == b"stall":
                    await asyncio.sleep(3600)
                writer.write(answer)
                await writer.drain()
                lower = answer.lower()
                framed = b"content-length" in lower or b"chunked" in lower
                if b"connection: close" in lower or not framed:
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    script = Scripted([])
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    script.origin = f"http://127.0.0.1:{port}"
    yield script
    server.close()


CREATED = b"HTTP/1.1 201 Created\r\nLocation: /m/1\r\nContent-Length: 0\r\n\r\n"


async def two_posts(scripted: Scripted) -> list[Response]:
    client = PushHttpClient(timeout=5)
    try:
        return [await client.post(scripted.origin + "/push/a", b"x", {}) for _ in range(2)]
    finally:
        await client.aclose()


async def test_a_post_keeps_its_connection_for_the_next(scripted):
    scripted.answers = [CREATED, CREATED]
    client = PushHttpClient(timeout=5)
    try:
        first = await client.post(scripted.origin + "/push/a?x=1", b"body-1", {"ttl": "60"})
        second = await client.post(scripted.origin + "/push/b", b"body-2", {"ttl": "60"})
    finally:
        await client.aclose()
    assert (first.status, first.headers["location"], second.status) == (201, "/m/1", 201)
    assert scripted.connections == 1
    assert scripted.requests[0].startswith(b"POST /push/a?x=1 HTTP/1.1\r\n")
    assert b"\r\nttl: 60\r\n" in scripted.requests[0]
    assert scripted.requests[0].endswith(b"\r\n\r\nbody-1")


async def test_chunked_and_interim_answers_are_read_whole(scripted):
    scripted.answers = [
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 60\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nslow \r\n5;x=y\r\ndown!\r\n0\r\n\r\n",
        CREATED,
    ]
    answer, again = await two_posts(scripted)
    assert (answer.status, answer.headers["retry-after"], answer.body) == (429, "60", b"slow down!")
    assert again.status == 201
    assert scripted.connections == 1


async def test_an_answer_framed_by_closing_is_read_and_not_reused(scripted):
    scripted.answers = [b"HTTP/1.1 410 Gone\r\nConnection: close\r\n\r\ngone", CREATED]
    gone, created = await two_posts(scripted)
    assert (gone.status, gone.body, created.status) == (410, b"gone", 201)
    assert scripted.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_replaced(scripted):
    scripted.answers = [CREATED, CLOSE, CREATED]
    # the server takes the second request on the kept connection and hangs up unanswered
    assert [answer.status for answer in await two_posts(scripted)] == [201, 201]
    assert scripted.connections == 2


async def test_timeouts_refusals_and_garbage_are_http_errors(scripted):
    scripted.answers = [b"stall"]
    client = PushHttpClient(timeout=0.3)
    try:
        with pytest.raises(HttpError, match="timed out"):
            await client.post(scripted.origin + "/push/a", b"x", {})
        scripted.answers = [b"SSH-2.0-OpenSSH\r\n\r\n"]
        with pytest.raises(HttpError):
            await client.post(scripted.origin + "/push/a", b"x", {})
        with pytest.raises(HttpError):
            await client.post("http://127.0.0.1:1/push/a", b"x", {})
        with pytest.raises(HttpError):
            await client.post("ftp://127.0.0.1/push/a", b"x", {})
    finally:
        await client.aclose()


def test_split_url_keeps_the_port_and_the_query():
    assert split_url("https://push.example:8443/w/abc?x=1#f") == (
        "https://push.example:8443",
        "/w/abc?x=1",
    )
    assert split_url("https://push.example") == ("https://push.example", "/")
