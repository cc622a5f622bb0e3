"""Files in ``matrix.store_path``: the device's credentials and the sync token.

Credentials are kept so a restart reuses the same device (no new device per start,
and transaction ids stay valid: the homeserver scopes them to the device). The sync
token is written only after a batch is fully handled, atomically (write, fsync,
rename), so a crash can replay a batch — which is harmless, handlers being
idempotent — but never skip one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Credentials:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str

    def __repr__(self) -> str:
        return f"Credentials(user_id={self.user_id!r}, device_id={self.device_id!r}, access_token='***')"


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class SessionStore:
    def __init__(self, path: Path):
        self.path = path
        self.credentials_file = path / "credentials.json"
        self.token_file = path / "sync_token"

    def load_credentials(self, homeserver: str, user_id: str) -> Credentials | None:
        try:
            data = json.loads(self.credentials_file.read_text(encoding="utf-8"))
            credentials = Credentials(**data)
        except (FileNotFoundError, ValueError, TypeError):
            return None
        if credentials.homeserver != homeserver or credentials.user_id != user_id:
            return None  # another account or server: log in afresh
        return credentials

    def save_credentials(self, credentials: Credentials) -> None:
        atomic_write(self.credentials_file, json.dumps(asdict(credentials)))

    def load_sync_token(self) -> str | None:
        try:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def save_sync_token(self, token: str) -> None:
        atomic_write(self.token_file, token)
