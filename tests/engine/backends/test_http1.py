"""The teacher's HTTP/1.1 client against real servers on loopback: aiohttp apps for well-formed
traffic (chunked, gzip, TLS, keep-alive) and raw asyncio servers for what aiohttp never sends."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from engine.backends.http1 import HTTPClient, HTTPError, RequestTimeout


@contextlib.asynccontextmanager
async def aiohttp_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ssl_context: ssl.SSLContext | None = None,
    **server: float,
) -> AsyncIterator[tuple[str, list[tuple[str, int]]]]:
    """An aiohttp server on a free port; yields its URL and the client (host, port) of each
    request, so tests can tell which connection carried it."""
    peers: list[tuple[str, int]] = []

    async def recorded(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        return await handler(request)

    runner = web.AppRunner(web.Application(), handle_signals=False, **server)
    runner.app.router.add_route("*", "/{tail:.*}", recorded)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}", peers
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(
    reply: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A TCP server whose bytes the test writes itself; ``reply`` runs once per connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reply(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One whole request (head and Content-Length body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    headers = {"X-Seen-Auth": request.headers.get("Authorization", ""), "X-Twice": "a"}
    response = web.Response(body=body, status=201, headers=headers)
    response.headers.add("X-Twice", "b")
    return response


async def test_keep_alive_reuses_one_connection_and_sends_the_configured_headers():
    async with aiohttp_server(echo) as (url, peers):
        client = HTTPClient(url + "/v1", {"Authorization": "Bearer k"})
        responses = [await client.post("/v1/x", f"body {i}".encode()) for i in range(20)]
        await client.close()
    assert [r.body for r in responses] == [f"body {i}".encode() for i in range(20)]
    assert {r.status for r in responses} == {201}
    assert responses[0].headers["x-seen-auth"] == "Bearer k"
    assert responses[0].headers["x-twice"] == "a, b"  # names lower-cased, repeats joined
    assert len(peers) == 20 and len(set(peers)) == 1


async def test_concurrent_requests_open_connections_and_pool_them():
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(body=await request.read())

    async with aiohttp_server(slow) as (url, peers):
        client = HTTPClient(url)
        for _ in range(3):
            bodies = await asyncio.gather(*(client.post("/", b"%d" % i) for i in range(10)))
            assert [r.body for r in bodies] == [b"%d" % i for i in range(10)]
        await client.close()
    assert len(peers) == 30 and len(set(peers)) == 10


async def test_chunked_and_gzip_bodies_are_decoded():
    text = b"reasoning " * 5000

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        if request.path == "/gzip":
            response.enable_compression(web.ContentCoding.gzip)
        await response.prepare(request)
        for start in range(0, len(text), 7000):
            await response.write(text[start : start + 7000])
        await response.write_eof()
        return response

    async with aiohttp_server(chunked) as (url, _):
        client = HTTPClient(url)
        plain = await client.post("/plain", b"")
        zipped = await client.post("/gzip", b"")
        await client.close()
    assert plain.headers["transfer-encoding"] == "chunked" and plain.body == text
    assert zipped.headers["content-encoding"] == "gzip" and zipped.body == text


async def test_a_body_ended_by_closing_the_connection_is_whole_and_the_connection_not_reused():
    async def until_close(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")

    async with raw_server(until_close) as url:
        client = HTTPClient(url)
        first = await client.post("/", b"1")
        second = await client.post("/", b"2")
        await client.close()
    assert first.body == second.body == b"all of it"
    assert not client._idle


async def test_connection_close_is_honoured():
    async def close_after(request: web.Request) -> web.Response:
        return web.Response(body=b"ok", headers={"Connection": "close"})

    async with aiohttp_server(close_after) as (url, peers):
        client = HTTPClient(url)
        for _ in range(3):
            assert (await client.post("/", b"")).body == b"ok"
        await client.close()
    assert len(set(peers)) == 3


class AnswersOnce:
    """Per connection: answers the first request "ok", then closes, at once (as an idle timeout
    would, without saying so) or only once a second request has arrived. Counts connections."""

    def __init__(self, wait_for_second: bool):
        self.wait_for_second = wait_for_second
        self.connections = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        if self.wait_for_second:
            await read_request(reader)


async def test_an_idle_connection_the_server_dropped_is_replaced_without_failing_the_request():
    server = AnswersOnce(wait_for_second=False)
    async with raw_server(server) as url:
        client = HTTPClient(url)
        for _ in range(3):
            assert (await client.post("/", b"x")).body == b"ok"
            await asyncio.sleep(0.05)  # let the close arrive while the connection is idle
        await client.close()
    assert server.connections == 3


async def test_a_reused_connection_dropped_mid_request_is_retried_once_on_a_new_one():
    server = AnswersOnce(wait_for_second=True)
    async with raw_server(server) as url:
        client = HTTPClient(url)
        assert (await client.post("/", b"a")).body == b"ok"
        assert (await client.post("/", b"b")).body == b"ok"  # first try dropped, retried
        await client.close()
    assert server.connections == 2


@pytest.mark.parametrize(
    "reply, error",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut short", "closed the connection"),
        (b"SMTP ready\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc", "gzip"),
    ],
    ids=["cut-mid-body", "not-http", "bad-gzip"],
)
async def test_broken_responses_are_errors_never_results(reply: bytes, error: str):
    async def broken(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    async with raw_server(broken) as url:
        client = HTTPClient(url)
        with pytest.raises(HTTPError, match=error):
            await client.post("/", b"x")
        await client.close()
    assert not client._idle and not client._open


async def test_timeout_is_typed_and_the_client_recovers():
    async def sometimes_slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(await request.read()))
        return web.Response(body=b"done")

    async with aiohttp_server(sometimes_slow) as (url, _):
        client = HTTPClient(url, timeout=0.2)
        with pytest.raises(RequestTimeout):
            await client.post("/", b"0.5")
        assert (await client.post("/", b"0")).body == b"done"
        await client.close()


async def test_connect_errors_name_the_address():
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    client = HTTPClient(f"http://127.0.0.1:{port}")
    with pytest.raises(HTTPError, match=f"cannot connect to 127.0.0.1:{port}"):
        await client.post("/", b"")


async def test_a_cancelled_request_discards_its_connection():
    started, release = asyncio.Event(), asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        started.set()
        await release.wait()
        return web.Response()

    async with aiohttp_server(hang) as (url, _):
        client = HTTPClient(url)
        task = asyncio.ensure_future(client.post("/", b""))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client._idle and not client._open
        release.set()


def test_bad_base_urls_are_refused():
    for url in ("ftp://host/x", "127.0.0.1:8000", "http:///v1"):
        with pytest.raises(ValueError, match="not an http"):
            HTTPClient(url)


@pytest.fixture
def tls_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1 that the client trusts via SSL_CERT_FILE."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    request += " -addext subjectAltName=IP:127.0.0.1"
    command = ["openssl", *request.split(), "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_https_verifies_the_server_certificate(tls_context: ssl.SSLContext, monkeypatch):
    async with aiohttp_server(echo, tls_context) as (url, peers):
        client = HTTPClient(url)
        assert (await client.post("/", b"secret")).body == b"secret"
        assert (await client.post("/", b"again")).body == b"again"
        await client.close()
        assert len(set(peers)) == 1
        monkeypatch.delenv("SSL_CERT_FILE")  # an untrusted certificate is refused
        with pytest.raises(HTTPError, match="CERTIFICATE_VERIFY_FAILED"):
            await HTTPClient(url).post("/", b"")
