"""`maillage check` on a real Synapse reports the bot's message rate limits: UNKNOWN
when the bot may not read them (not an admin), WARNING when it is rate-limited, OK once
an admin has exempted it (the README's deployment advice)."""

from __future__ import annotations

import subprocess
import sys

import aiohttp
import pytest

from tests.botproc import BOT_PASSWORD, ensure_bot_account, write_config

pytestmark = pytest.mark.e2e


def check(config) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.ops.cli", "check", "-c", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)


async def exempt(server, user_id: str, token: str) -> None:
    url = f"{server.base_url}/_synapse/admin/v1/users/{user_id}/override_ratelimit"
    async with aiohttp.ClientSession() as session, session.post(
            url, json={"messages_per_second": 0, "burst_count": 0},
            headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, await response.text()


async def test_check_reports_rate_limits(synapse, tmp_path):
    # Accounts of their own: a fresh store on an account another test's bot already gave a
    # cross-signing identity would (rightly) be refused by `check`.
    await ensure_bot_account(synapse, "maillage-limits")
    plain = check(write_config(tmp_path / "plain", synapse.base_url, bot_localpart="maillage-limits"))
    assert plain.returncode == 0, plain.stderr
    assert "rate limits: UNKNOWN" in plain.stdout and "README" in plain.stdout

    admin_bot = await synapse.register_user("maillage-admin", BOT_PASSWORD, admin=True)
    config = write_config(tmp_path / "admin", synapse.base_url, bot_localpart="maillage-admin")
    limited = check(config)
    assert limited.returncode == 0, limited.stderr
    assert "rate limits: WARNING" in limited.stdout

    token, _device = await synapse.login("maillage-admin", BOT_PASSWORD)
    await exempt(synapse, admin_bot, token)
    exempted = check(config)
    assert exempted.returncode == 0 and "rate limits: OK" in exempted.stdout
    assert BOT_PASSWORD not in exempted.stdout + exempted.stderr
