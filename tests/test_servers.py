"""Real-server tests of the throwaway Synapse and PostgreSQL helpers."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bot.ops.devserver import SynapseServer

# The fixtures come from the plugin module.  Once tests/conftest.py declares
# ``pytest_plugins = ["tests.conftest_servers"]`` this import is redundant
# (harmless, but it gives this module its own session Synapse): drop it then.

pytestmark = pytest.mark.e2e

_txn = itertools.count()


class Client:
    """A minimal Client-Server API v3 client over aiohttp."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str):
        self.session = session
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> tuple[int, dict[str, Any]]:
        url = f"{self.base_url}/_matrix/client/v3{path}"
        async with self.session.request(
            method, url, json=body, params=params or None, headers=self.headers
        ) as resp:
            return resp.status, await resp.json()

    async def ok(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> dict[str, Any]:
        status, data = await self.call(method, path, body, **params)
        assert status == 200, (method, path, status, data)
        return data

    async def send_text(
        self, room_id: str, text: str, txn_id: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        txn_id = txn_id or f"t{next(_txn)}-{secrets.token_hex(4)}"
        path = f"/rooms/{quote(room_id)}/send/m.room.message/{txn_id}"
        return await self.call("PUT", path, {"msgtype": "m.text", "body": text})


async def new_user(
    server: SynapseServer, session: aiohttp.ClientSession, name: str
) -> tuple[str, Client]:
    localpart = f"{name}_{secrets.token_hex(3)}"
    user_id = await server.register_user(localpart, "pw-" + localpart, displayname=name.title())
    token, device_id = await server.login(localpart, "pw-" + localpart)
    assert device_id
    return user_id, Client(session, server.base_url, token)


async def test_synapse_started(synapse: SynapseServer) -> None:
    assert synapse.base_url.startswith("http://127.0.0.1:")
    assert synapse.server_name == "localhost"
    assert synapse.startup_seconds is not None
    print(f"Synapse start-up: {synapse.startup_seconds:.2f}s")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{synapse.base_url}/_matrix/client/versions") as resp:
            assert resp.status == 200
            assert "v1.11" in (await resp.json())["versions"]
        # No public registration.
        url = f"{synapse.base_url}/_matrix/client/v3/register"
        async with session.post(url, json={"username": "x", "password": "y"}) as resp:
            assert resp.status == 403


@pytest.mark.parametrize("room_version", ["12", None, "11"])
async def test_room_invite_join_message(synapse: SynapseServer, room_version: str | None) -> None:
    async with aiohttp.ClientSession() as session:
        alice_id, alice = await new_user(synapse, session, "alice")
        bob_id, bob = await new_user(synapse, session, "bob")
        assert alice_id.endswith(":localhost")

        body: dict[str, Any] = {"name": "Séance", "preset": "private_chat"}
        if room_version:
            body["room_version"] = room_version
        room_id = (await alice.ok("POST", "/createRoom", body))["room_id"]
        room = quote(room_id)

        create = await alice.ok("GET", f"/rooms/{room}/state/m.room.create/")
        assert create["room_version"] == (room_version or "12")  # 1.163 default: 12
        if create["room_version"] == "12":
            # MSC4291: the room id is the create event's hash, no server part.
            assert ":" not in room_id
        state = await alice.ok("GET", f"/rooms/{room}/state")
        assert {e["type"] for e in state} >= {
            "m.room.create",
            "m.room.member",
            "m.room.power_levels",
        }

        await alice.ok("POST", f"/rooms/{room}/invite", {"user_id": bob_id})
        await bob.ok("POST", f"/join/{room}", {})
        members = await bob.ok("GET", f"/rooms/{room}/joined_members")
        assert set(members["joined"]) == {alice_id, bob_id}

        status, sent = await alice.send_text(room_id, "Bonjour Bob")
        assert status == 200, sent

        messages = await bob.ok("GET", f"/rooms/{room}/messages", dir="b", limit="20")
        texts = [e for e in messages["chunk"] if e["type"] == "m.room.message"]
        assert [e["content"]["body"] for e in texts] == ["Bonjour Bob"]
        assert texts[0]["event_id"] == sent["event_id"]
        assert texts[0]["sender"] == alice_id


async def test_txn_id_is_idempotent(synapse: SynapseServer) -> None:
    async with aiohttp.ClientSession() as session:
        _, alice = await new_user(synapse, session, "alice")
        room_id = (await alice.ok("POST", "/createRoom", {}))["room_id"]
        first = await alice.send_text(room_id, "once", txn_id="same-txn")
        again = await alice.send_text(room_id, "different body", txn_id="same-txn")
        assert first[0] == again[0] == 200
        # Same (access token, txn id): the first event is returned, not re-sent.
        assert first[1]["event_id"] == again[1]["event_id"]
        messages = await alice.ok("GET", f"/rooms/{quote(room_id)}/messages", dir="b")
        bodies = [e["content"]["body"] for e in messages["chunk"] if e["type"] == "m.room.message"]
        assert bodies == ["once"]


async def test_media_upload_and_download(synapse: SynapseServer) -> None:
    data = os.urandom(3 * 1024 * 1024)
    async with aiohttp.ClientSession() as session:
        _, alice = await new_user(synapse, session, "alice")
        url = f"{synapse.base_url}/_matrix/media/v3/upload"
        headers = {**alice.headers, "Content-Type": "application/octet-stream"}
        async with session.post(
            url, data=data, headers=headers, params={"filename": "cr.docx"}
        ) as resp:
            assert resp.status == 200, await resp.text()
            mxc = (await resp.json())["content_uri"]
        server_name, media_id = mxc.removeprefix("mxc://").split("/")
        url = f"{synapse.base_url}/_matrix/client/v1/media/download/{server_name}/{media_id}"
        async with session.get(url, headers=alice.headers) as resp:
            assert resp.status == 200
            assert await resp.read() == data


async def test_rate_limit_exceeded(synapse_strict: SynapseServer) -> None:
    async with aiohttp.ClientSession() as session:
        _, alice = await new_user(synapse_strict, session, "alice")
        room_id = (await alice.ok("POST", "/createRoom", {}))["room_id"]
        results = [await alice.send_text(room_id, f"m{i}") for i in range(10)]
    limited = [data for status, data in results if status == 429]
    assert limited, results
    assert limited[0]["errcode"] == "M_LIMIT_EXCEEDED"
    assert limited[0]["retry_after_ms"] > 0
    # rc_message burst_count is 3: the first messages go through.
    assert results[0][0] == 200


async def test_relaxed_server_does_not_limit(synapse: SynapseServer) -> None:
    async with aiohttp.ClientSession() as session:
        _, alice = await new_user(synapse, session, "alice")
        room_id = (await alice.ok("POST", "/createRoom", {}))["room_id"]
        results = await asyncio.gather(*(alice.send_text(room_id, f"m{i}") for i in range(30)))
    assert [status for status, _ in results] == [200] * 30


async def test_kill_from_test_loop(make_synapse) -> None:
    server = make_synapse()
    user_id = await server.register_user("carol", "pw")
    assert user_id == "@carol:localhost"
    await server.kill()  # started on the fixture loop, killed from this one
    assert not server.running
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{server.base_url}/_matrix/client/versions")


async def test_restart_keeps_data(tmp_path) -> None:
    """start/stop/start on the test's own loop keeps users, tokens and URL."""
    async with SynapseServer(tmp_path) as server:
        await server.register_user("dave", "pw")
        token, _ = await server.login("dave", "pw")
        first_url = server.base_url
    assert not server.running
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"{server.base_url}/_matrix/client/v3/account/whoami"
            async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200
                assert (await resp.json())["user_id"] == "@dave:localhost"
        assert server.base_url == first_url  # the port is reused on restart
    finally:
        await server.stop()


@pytest.mark.postgres
def test_postgres_select_1(postgres_url: str) -> None:
    import psycopg

    assert postgres_url.startswith("postgresql+psycopg://")
    assert postgres_url.endswith("/maillage")
    with psycopg.connect(postgres_url.replace("+psycopg", "", 1)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_database()").fetchone() == ("maillage",)
