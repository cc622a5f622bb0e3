"""Test-side name of the scripted Matrix user (the implementation lives in bot.devclient)."""

from bot.devclient import MatrixUser, download_media, notices_from, replies_to  # noqa: F401
