"""The bot's own cross-signing identity, so that Element shows and encrypts for its device.

Since April 2026 Element excludes devices their owner has not cross-signed (MSC4153,
"exclude insecure devices"). The bot has no screen to verify itself from another device,
so it holds its own identity: a master key and a self-signing key (no user-signing key:
the bot never verifies other people), and signs its own device with it.

Spec: Client-Server API "Cross-signing" — ``POST /keys/device_signing/upload`` (with
user-interactive auth when the account already has keys), ``POST /keys/signatures/upload``,
``POST /keys/query``. Signing and key handling are matrix-org's ``signedjson`` (Ed25519
through PyNaCl over canonical JSON), the library Synapse itself signs with: no
cryptography is written here.

The private keys live in ``<matrix.store_path>/cross_signing.json`` (mode 0600) beside the
crypto store, and are written *before* the upload, so a crash in between leaves keys the
next start can upload. The homeserver is reached through a :data:`Requester` the Matrix
adapter provides, which keeps this module free of nio.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from signedjson.key import (
    decode_signing_key_base64,
    encode_signing_key_base64,
    encode_verify_key_base64,
    generate_signing_key,
    get_verify_key,
)
from signedjson.sign import sign_json

from bot.matrix.store import atomic_write

log = logging.getLogger(__name__)

KEYS_FILE = "cross_signing.json"
Requester = Callable[[str, str, dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]

CONFLICT_MESSAGE = (
    "Le compte {user_id} a déjà une identité de signature croisée que Maillage ne détient pas "
    "(créée par exemple en se connectant à ce compte depuis Element). Maillage ne la remplace "
    "jamais de lui-même : les personnes qui ont vérifié ce compte devraient le vérifier à "
    "nouveau. Pour donner au bot sa propre identité, lancez "
    "`maillage reset-identity -c <config>`.\n"
    "The account {user_id} already has a cross-signing identity that Maillage does not hold "
    "(for example created by logging in to it from Element). Maillage never replaces it on "
    "its own, since people who verified the account would have to verify it again. To give "
    "the bot its own identity, run `maillage reset-identity -c <config>`."
)


class CrossSigningError(RuntimeError):
    """The homeserver refused an upload, or the account's identity is not ours."""


class IdentityConflict(CrossSigningError):
    """The account already has a cross-signing identity whose private keys we lack."""

    def __init__(self, user_id: str):
        super().__init__(CONFLICT_MESSAGE.format(user_id=user_id))


def _named_key(seed_b64: str):
    """A signing key whose key id is its own public key, as cross-signing keys are named."""
    key = decode_signing_key_base64("ed25519", "_", seed_b64)
    public = encode_verify_key_base64(get_verify_key(key))
    return decode_signing_key_base64("ed25519", public, seed_b64), public


@dataclass(frozen=True)
class Identity:
    """The private seeds (unpadded base64) of the master and self-signing keys."""

    master_seed: str = field(repr=False)        # private keys: never in a log line
    self_signing_seed: str = field(repr=False)

    @classmethod
    def generate(cls) -> "Identity":
        return cls(encode_signing_key_base64(generate_signing_key("_")),
                   encode_signing_key_base64(generate_signing_key("_")))

    @property
    def master_public(self) -> str:
        return _named_key(self.master_seed)[1]

    @property
    def self_signing_public(self) -> str:
        return _named_key(self.self_signing_seed)[1]

    def master_key(self, user_id: str) -> dict[str, Any]:
        public = self.master_public
        return {"user_id": user_id, "usage": ["master"], "keys": {f"ed25519:{public}": public}}

    def self_signing_key(self, user_id: str) -> dict[str, Any]:
        """The self-signing key object, signed by the master key."""
        public = self.self_signing_public
        key = {"user_id": user_id, "usage": ["self_signing"], "keys": {f"ed25519:{public}": public}}
        return sign_json(key, user_id, _named_key(self.master_seed)[0])

    def sign_device(self, user_id: str, device_keys: dict[str, Any]) -> dict[str, Any]:
        """The device's key object with our self-signing signature added."""
        unsigned_removed = {k: v for k, v in device_keys.items() if k != "unsigned"}
        return sign_json(unsigned_removed, user_id, _named_key(self.self_signing_seed)[0])


def load_identity(store_dir: Path) -> Identity | None:
    try:
        data = json.loads((store_dir / KEYS_FILE).read_text(encoding="utf-8"))
        return Identity(data["master_seed"], data["self_signing_seed"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise CrossSigningError(f"{store_dir / KEYS_FILE} is unreadable: {error}") from None


def save_identity(store_dir: Path, identity: Identity) -> None:
    atomic_write(store_dir / KEYS_FILE, json.dumps({"master_seed": identity.master_seed,
                                                    "self_signing_seed": identity.self_signing_seed}))


@dataclass(frozen=True)
class PublishedKeys:
    """What the homeserver holds for the account: its master key and our device's keys."""

    master_public: str | None
    self_signing_public: str | None
    device_keys: dict[str, Any] | None


def _only_key(key_object: dict[str, Any] | None) -> str | None:
    keys = list((key_object or {}).get("keys", {}).values())
    return keys[0] if keys else None


async def query_published(request: Requester, user_id: str, device_id: str) -> PublishedKeys:
    status, body = await request("POST", "/_matrix/client/v3/keys/query",
                                 {"device_keys": {user_id: [device_id]}})
    if status != 200:
        raise CrossSigningError(f"keys/query failed: {status} {body}")
    return PublishedKeys(_only_key(body.get("master_keys", {}).get(user_id)),
                         _only_key(body.get("self_signing_keys", {}).get(user_id)),
                         body.get("device_keys", {}).get(user_id, {}).get(device_id))


def device_is_signed(published: PublishedKeys, user_id: str, identity: Identity) -> bool:
    signatures = (published.device_keys or {}).get("signatures", {}).get(user_id, {})
    return f"ed25519:{identity.self_signing_public}" in signatures


async def _upload_identity(request: Requester, user_id: str, identity: Identity,
                           password: str) -> None:
    """Upload the public keys; answer the user-interactive auth with the password if asked."""
    path = "/_matrix/client/v3/keys/device_signing/upload"
    body: dict[str, Any] = {"master_key": identity.master_key(user_id),
                            "self_signing_key": identity.self_signing_key(user_id)}
    status, answer = await request("POST", path, body)
    if status == 401 and "flows" in answer:
        if not password:
            raise CrossSigningError("the homeserver asks for the bot's password to upload its "
                                    "cross-signing keys: set matrix.password")
        body["auth"] = {"type": "m.login.password", "session": answer.get("session"),
                        "identifier": {"type": "m.id.user", "user": user_id}, "password": password}
        status, answer = await request("POST", path, body)
    if status != 200:
        raise CrossSigningError(f"cross-signing key upload refused: {status} "
                                f"{answer.get('errcode')} {answer.get('error')}")


async def _sign_own_device(request: Requester, user_id: str, device_id: str,
                           identity: Identity, published: PublishedKeys) -> None:
    if published.device_keys is None:
        raise CrossSigningError(f"the homeserver has no keys for device {device_id} yet")
    signed = identity.sign_device(user_id, published.device_keys)
    status, answer = await request("POST", "/_matrix/client/v3/keys/signatures/upload",
                                   {user_id: {device_id: signed}})
    if status != 200 or answer.get("failures"):
        raise CrossSigningError(f"device signature refused: {status} {answer}")


async def ensure_identity(request: Requester, user_id: str, device_id: str, store_dir: Path,
                          password: str) -> str:
    """Make the device cross-signed by the bot's own identity; returns what was done.

    Creates the identity on first start, reuses it later, re-uploads it if the keys were
    saved but the upload never happened, and refuses (:class:`IdentityConflict`) an account
    whose identity was made elsewhere.
    """
    identity = load_identity(store_dir)
    published = await query_published(request, user_id, device_id)
    done = "reused"
    if published.master_public is None:
        if identity is None:
            identity = Identity.generate()
            save_identity(store_dir, identity)
        await _upload_identity(request, user_id, identity, password)
        published = await query_published(request, user_id, device_id)
        done = "created"
    elif identity is None or published.master_public != identity.master_public \
            or published.self_signing_public != identity.self_signing_public:
        raise IdentityConflict(user_id)
    if not device_is_signed(published, user_id, identity):
        await _sign_own_device(request, user_id, device_id, identity, published)
        done += ", device signed"
    return f"{done} (master key {identity.master_public})"


async def describe(request: Requester, user_id: str, device_id: str, store_dir: Path) -> str:
    """What ``maillage check`` says of the identity, changing nothing; raises
    :class:`IdentityConflict` when ``run`` would refuse to start."""
    identity = load_identity(store_dir)
    published = await query_published(request, user_id, device_id)
    if published.master_public is None:
        return ("cross-signing: not set up yet (the bot creates its identity at its first run)"
                if identity is None else "cross-signing: keys saved, uploaded at the next run")
    if identity is None or published.master_public != identity.master_public \
            or published.self_signing_public != identity.self_signing_public:
        raise IdentityConflict(user_id)
    signed = ("device signed" if device_is_signed(published, user_id, identity)
              else "this device is signed at the next run")
    return f"cross-signing: OK, {signed} (master key {identity.master_public})"


async def reset_identity(request: Requester, user_id: str, device_id: str, store_dir: Path,
                         password: str) -> Identity:
    """Replace the account's identity by a new one of the bot's (explicit operator action)."""
    identity = Identity.generate()
    pending = store_dir / "pending"
    save_identity(pending, identity)     # kept before the upload: a crash loses no key
    await _upload_identity(request, user_id, identity, password)
    # Uploaded: only now does it replace the keys in use (a refused upload — wrong
    # password, homeserver error — leaves the bot's current identity as it was).
    current = store_dir / KEYS_FILE
    if current.exists():
        current.replace(current.with_suffix(".json.old"))
    (pending / KEYS_FILE).replace(current)
    pending.rmdir()
    published = await query_published(request, user_id, device_id)
    await _sign_own_device(request, user_id, device_id, identity, published)
    return identity
