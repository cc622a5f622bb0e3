"""The feed server's own error log: the secret token of a feed or archive URL never
reaches it, and a malformed request (client garbage) is one line, not a traceback."""

from __future__ import annotations

import asyncio
import logging

from bot.services import http
from tests.test_http import config, server  # noqa: F401  (fixtures)

TOKEN = "Zq3xSecretFeedToken0123456789abcdef"


async def raw_request(base: str, request: bytes) -> bytes:
    """Send raw bytes to the server and return its answer."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_an_oversize_request_line_does_not_log_the_token(server, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    line = f"GET /calendar/{TOKEN}.ics?{'x' * 9000} HTTP/1.1\r\nHost: feed\r\n\r\n"
    answer = await raw_request(server, line.encode())
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    records = [r for r in caplog.records if r.name == http.server_log.name]
    assert records, "aiohttp logged nothing: the test would prove nothing"
    assert TOKEN not in caplog.text and TOKEN[:8] not in caplog.text
    assert "/calendar/***" in caplog.text
    assert "Traceback" not in caplog.text and all(r.exc_info is None for r in records)


async def test_a_malformed_header_is_one_line_without_traceback(server, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    request = f"GET /minutes/{TOKEN}/ HTTP/1.1\r\nHost: feed\r\nBad Header\r\n\r\n"
    answer = await raw_request(server, request.encode())
    assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    [record] = [r for r in caplog.records if r.name == http.server_log.name]
    assert "\n" not in record.getMessage() and record.exc_info is None and not record.exc_text
    assert TOKEN not in caplog.text and "Traceback" not in caplog.text


def test_mask_tokens_in_any_text():
    text = f"bytearray(b'GET /calendar/{TOKEN}.ics?a=b') and /minutes/{TOKEN}/3/1.html"
    assert http.mask_tokens(text) == "bytearray(b'GET /calendar/***') and /minutes/***/3/1.html"
