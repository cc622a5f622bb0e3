"""The bot's cross-signing identity without a homeserver: keys, signatures, the decision
to create, reuse or refuse (a scripted homeserver answers /keys/query and the uploads)."""

from __future__ import annotations

import copy

import pytest
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json
from unpaddedbase64 import decode_base64

from bot.matrix import crosssigning
from bot.matrix.crosssigning import (
    Identity,
    IdentityConflict,
    ensure_identity,
    load_identity,
    save_identity,
)

USER, DEVICE = "@maillage:localhost", "BOTDEVICE"


def verify_key(public: str):
    return decode_verify_key_bytes(f"ed25519:{public}", decode_base64(public))


class Homeserver:
    """Just enough of the cross-signing endpoints; asks for the password like Synapse."""

    def __init__(self, ask_password: bool = True):
        self.master = self.self_signing = None
        self.device = {"user_id": USER, "device_id": DEVICE, "algorithms": ["m.megolm.v1.aes-sha2"],
                       "keys": {f"ed25519:{DEVICE}": "devicekey"}, "signatures": {}}
        self.ask_password = ask_password
        self.calls: list[str] = []

    async def __call__(self, method: str, path: str, body: dict) -> tuple[int, dict]:
        self.calls.append(path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1])
        if path.endswith("/keys/query"):
            answer = {"device_keys": {USER: {DEVICE: copy.deepcopy(self.device)}}}
            if self.master:
                answer["master_keys"] = {USER: self.master}
                answer["self_signing_keys"] = {USER: self.self_signing}
            return 200, answer
        if path.endswith("/device_signing/upload"):
            if self.ask_password and body.get("auth", {}).get("password") != "pw":
                return 401, {"flows": [{"stages": ["m.login.password"]}], "session": "s"}
            self.master, self.self_signing = body["master_key"], body["self_signing_key"]
            return 200, {}
        if path.endswith("/signatures/upload"):
            signed = body[USER][DEVICE]
            self.device["signatures"] = signed["signatures"]
            return 200, {"failures": {}}
        return 404, {}


def test_an_identity_signs_its_self_signing_key_and_the_device():
    identity = Identity.generate()
    self_signing = identity.self_signing_key(USER)
    verify_signed_json(self_signing, USER, verify_key(identity.master_public))
    device = identity.sign_device(USER, {"user_id": USER, "device_id": DEVICE, "keys": {},
                                         "unsigned": {"device_display_name": "maillage"}})
    verify_signed_json(device, USER, verify_key(identity.self_signing_public))
    assert "unsigned" not in device


def test_keys_are_saved_owner_only_and_read_back(tmp_path):
    identity = Identity.generate()
    save_identity(tmp_path, identity)
    assert (tmp_path / crosssigning.KEYS_FILE).stat().st_mode & 0o777 == 0o600
    assert load_identity(tmp_path) == identity
    (tmp_path / crosssigning.KEYS_FILE).write_text("{broken", encoding="utf-8")
    with pytest.raises(crosssigning.CrossSigningError):
        load_identity(tmp_path)


async def test_first_start_creates_uploads_with_password_and_signs(tmp_path):
    server = Homeserver()
    done = await ensure_identity(server, USER, DEVICE, tmp_path, "pw")
    assert done.startswith("created, device signed")
    identity = load_identity(tmp_path)
    assert server.master["keys"] == {f"ed25519:{identity.master_public}": identity.master_public}
    verify_signed_json(server.device, USER, verify_key(identity.self_signing_public))
    # Later starts: nothing uploaded again.
    server.calls.clear()
    assert (await ensure_identity(server, USER, DEVICE, tmp_path, "pw")).startswith("reused")
    assert server.calls == ["keys/query"]


async def test_keys_saved_but_never_uploaded_are_uploaded_next_time(tmp_path):
    identity = Identity.generate()
    save_identity(tmp_path, identity)        # a crash right after saving
    server = Homeserver()
    await ensure_identity(server, USER, DEVICE, tmp_path, "pw")
    assert load_identity(tmp_path) == identity
    assert server.master == identity.master_key(USER)


async def test_an_identity_made_elsewhere_is_refused_and_left_alone(tmp_path):
    server = Homeserver()
    foreign = Identity.generate()
    server.master, server.self_signing = foreign.master_key(USER), foreign.self_signing_key(USER)
    with pytest.raises(IdentityConflict, match="maillage reset-identity"):
        await ensure_identity(server, USER, DEVICE, tmp_path, "pw")
    assert server.master == foreign.master_key(USER) and load_identity(tmp_path) is None


async def test_without_password_the_upload_says_what_to_set(tmp_path):
    with pytest.raises(crosssigning.CrossSigningError, match="matrix.password"):
        await ensure_identity(Homeserver(), USER, DEVICE, tmp_path, "")
