"""End-to-end: the bot's device is cross-signed by the bot's own identity (MSC4153).

What another user's client sees through ``POST /keys/query`` is checked with
``signedjson`` (the verification Synapse itself uses): the self-signing key signed by
the master key, the bot's device signed by the self-signing key. Then: a restart keeps
the same identity and device; an account whose identity was made elsewhere is refused
with the documented message, and ``maillage reset-identity`` gives it the bot's own.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

from bot.matrix.crosssigning import Identity
from bot.matrix.devclient import MatrixUser
from tests.botproc import BOT_PASSWORD, BotProcess, ensure_bot_account, write_config

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parent.parent


def verify_key(public: str):
    return decode_verify_key_bytes(f"ed25519:{public}", decode_base64(public))


def only_key(key_object: dict) -> str:
    (public,) = key_object["keys"].values()
    return public


async def published(viewer: MatrixUser, user_id: str) -> dict:
    return await viewer.request("POST", "/keys/query", {"device_keys": {user_id: []}})


def assert_cross_signed(keys: dict, user_id: str, device_id: str) -> str:
    """The chain master → self-signing → device holds; returns the master key."""
    master = only_key(keys["master_keys"][user_id])
    self_signing = keys["self_signing_keys"][user_id]
    verify_signed_json(self_signing, user_id, verify_key(master))
    device = keys["device_keys"][user_id][device_id]
    verify_signed_json(device, user_id, verify_key(only_key(self_signing)))
    return master


def device_of(bot: BotProcess) -> str:
    return re.findall(r"logged in as \S+ \(device (\S+)\)", bot.log())[-1]


async def test_device_signed_by_own_identity_and_kept_across_restarts(synapse, tmp_path):
    bot_id = await ensure_bot_account(synapse, "maillage-xsign")
    viewer = await MatrixUser.create(synapse, "maita-xsign", "Maïta")
    bot = BotProcess(write_config(tmp_path / "bot", synapse.base_url, bot_localpart="maillage-xsign"))
    bot.start()
    bot.wait_log("logged in as")
    device = device_of(bot)
    assert "cross-signing identity created, device signed" in bot.log()
    master = assert_cross_signed(await published(viewer, bot_id), bot_id, device)
    keys_file = tmp_path / "bot" / "store" / "cross_signing.json"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert {p.stat().st_mode & 0o777 for p in keys_file.parent.iterdir()} == {0o600}

    assert bot.stop() == 0
    bot.start()
    bot.wait_log("cross-signing identity reused")
    assert device_of(bot) == device
    assert assert_cross_signed(await published(viewer, bot_id), bot_id, device) == master
    bot.stop()
    check = subprocess.run([sys.executable, "-m", "bot.ops.cli", "check", "-c", str(bot.config)],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert check.returncode == 0, check.stderr
    assert f"cross-signing: OK, device signed (master key {master})" in check.stdout


async def test_a_foreign_identity_is_refused_until_reset(synapse, tmp_path):
    bot_id = await ensure_bot_account(synapse, "maillage-foreign")
    viewer = await MatrixUser.create(synapse, "maita-foreign", "Maïta")
    # Someone logged in to the bot's account from a client that set up cross-signing.
    token, _device = await synapse.login("maillage-foreign", BOT_PASSWORD)
    elsewhere = MatrixUser(synapse.base_url, bot_id, token)
    foreign = Identity.generate()
    await elsewhere.request("POST", "/keys/device_signing/upload", {
        "master_key": foreign.master_key(bot_id), "self_signing_key": foreign.self_signing_key(bot_id),
        "auth": {"type": "m.login.password", "password": BOT_PASSWORD,
                 "identifier": {"type": "m.id.user", "user": bot_id}}})

    config = write_config(tmp_path / "bot", synapse.base_url, bot_localpart="maillage-foreign")
    bot = BotProcess(config)
    bot.start()
    assert bot.process.wait(timeout=60) == 4
    assert "maillage reset-identity" in bot.log() and "Traceback" not in bot.log()
    keys = await published(viewer, bot_id)
    assert only_key(keys["master_keys"][bot_id]) == foreign.master_public  # left as it was

    check = subprocess.run([sys.executable, "-m", "bot.ops.cli", "check", "-c", str(config)],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert check.returncode == 4 and "maillage reset-identity" in check.stderr  # as `run` would
    command = [sys.executable, "-m", "bot.ops.cli", "reset-identity", "-c", str(config)]
    unconfirmed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    reset = subprocess.run(command + ["--yes"], capture_output=True, text=True, cwd=REPO,
                           timeout=60)
    assert reset.returncode == 0, reset.stderr

    bot.start()
    bot.wait_log("cross-signing identity reused")
    master = assert_cross_signed(await published(viewer, bot_id), bot_id, device_of(bot))
    assert master != foreign.master_public
    device_keys = (await published(viewer, bot_id))["device_keys"][bot_id][device_of(bot)]
    with pytest.raises(SignatureVerifyException):  # the old identity does not vouch for it
        verify_signed_json(device_keys, bot_id, verify_key(foreign.self_signing_public))
    bot.stop()
