"""The Matrix adapter's decisions that keep a device and the outbox alive: a homeserver
error at start is waited out (never a new device), a room the bot is not in is a refusal
(it must not hold the outbox), a room that is arriving is waited for."""

from __future__ import annotations

import pytest
from aiohttp import web

from bot.matrix.client import MatrixClient, MatrixError
from bot.matrix.store import Credentials
from bot.ops.devserver import free_port
from tests.conftest import make_config


async def fake_homeserver(whoami_status: int, whoami_body: dict):
    """whoami answers as told; a login would be recorded (it must not happen)."""
    logins = []

    async def whoami(request):
        return web.json_response(whoami_body, status=whoami_status)

    async def login(request):
        logins.append(await request.json())
        return web.json_response({"user_id": "@maillage:localhost", "device_id": "NEWDEVICE",
                                  "access_token": "new-token"})

    app = web.Application()
    app.router.add_get("/_matrix/client/v3/account/whoami", whoami)
    app.router.add_post("/_matrix/client/v3/login", login)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", logins


@pytest.mark.parametrize("status, body, refused", [
    (502, {"errcode": "M_UNKNOWN", "error": "bad gateway"}, False),
    (500, {}, False),
])
async def test_an_unwell_homeserver_at_start_keeps_the_device(tmp_path, status, body, refused):
    runner, url, logins = await fake_homeserver(status, body)
    config = make_config(tmp_path, matrix={"homeserver": url})
    client = MatrixClient(config.matrix)
    client.store.save_credentials(Credentials(url, "@maillage:localhost", "OLDDEVICE", "old-token"))
    try:
        with pytest.raises(MatrixError) as raised:
            await client.login()
        assert raised.value.permanent is refused
        assert logins == []                                   # no new device
        kept = client.store.load_credentials(url, "@maillage:localhost")
        assert kept.device_id == "OLDDEVICE" and kept.access_token == "old-token"
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_refused_token_leads_to_a_new_login(tmp_path):
    runner, url, logins = await fake_homeserver(401, {"errcode": "M_UNKNOWN_TOKEN", "error": "x"})
    config = make_config(tmp_path, matrix={"homeserver": url})
    client = MatrixClient(config.matrix)
    client.store.save_credentials(Credentials(url, "@maillage:localhost", "OLDDEVICE", "old-token"))
    try:
        await client.login()
        assert len(logins) == 1 and client.device_id == "NEWDEVICE"
    finally:
        await client.close()
        await runner.cleanup()


def test_a_room_the_bot_is_not_in_is_a_refusal_once_synced(tmp_path):
    client = MatrixClient(make_config(tmp_path).matrix)
    with pytest.raises(MatrixError) as before_sync:
        client._check_room_known("!gone:localhost")
    assert not before_sync.value.permanent                    # state not read yet: wait
    client._synced = True
    with pytest.raises(MatrixError) as after_sync:
        client._check_room_known("!gone:localhost")
    assert after_sync.value.permanent                         # refused: the outbox moves on
    client._arriving.add("!new:localhost")
    with pytest.raises(MatrixError) as arriving:
        client._check_room_known("!new:localhost")
    assert not arriving.value.permanent                       # joined a moment ago: wait
