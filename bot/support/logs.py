"""Logging set-up, with every known secret masked wherever it would appear.

The CLI configures logging (never an import side effect). Secrets come from the
config (passwords, tokens, the database URL's password) and from the adapter once it
holds a freshly issued access token (``register_secret``); they are replaced by
``***`` in messages and in traceback text alike.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

MIN_SECRET_LENGTH = 4
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= MIN_SECRET_LENGTH:
        _secrets.add(value)


def url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


class SecretFilter(logging.Filter):
    """Replace registered secrets in log records (message and exception text) by ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg, record.args = mask(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return True


def setup_logging(verbose: bool, secrets: list[str] = ()) -> None:
    for secret in secrets:
        register_secret(secret)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("nio", "aiohttp.access", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
