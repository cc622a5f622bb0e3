"""Test-side name of the scripted Matrix user (the implementation lives in bot.matrix.devclient)."""

from bot.matrix.devclient import MatrixUser, download_media, notices_from, replies_to  # noqa: F401
