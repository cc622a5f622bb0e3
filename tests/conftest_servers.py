"""Pytest fixtures starting real servers: Synapse and PostgreSQL.

Use it either as a plugin (``pytest_plugins = ["tests.conftest_servers"]``
in the top-level conftest) or by importing the fixtures
(``from tests.conftest_servers import *``).

Fixtures:

* ``synapse`` (session): a started :class:`bot.ops.devserver.SynapseServer`
  with relaxed rate limits.
* ``synapse_strict`` (function): a separate Synapse with Synapse's default
  rate limits and ``rc_message`` of 0.5/s, burst 3.
* ``make_synapse`` (function): a factory ``make_synapse(relax_rate_limits=True)``
  returning further started servers (e.g. one a test may ``kill()``);
  they are stopped after the test.
* ``postgres_url`` (session): SQLAlchemy URL of a throwaway PostgreSQL
  database ``maillage``; skips when the binaries are missing.

A missing server (Synapse, PostgreSQL, and Node for ``tests/icalcheck``) skips the
tests that need it on a developer's machine, but **fails** them in CI (``CI`` set, as
CI services do): a CI run that silently skipped them would pass without testing.

The Synapse processes are started and stopped on an event loop running in a
background thread, so the fixtures are plain synchronous fixtures that work
with any pytest-asyncio loop scope.  ``SynapseServer``'s HTTP helpers
(``register_user``, ``login``) open an aiohttp session per call, so async
tests simply ``await synapse.register_user(...)`` on their own loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pathlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from bot.ops.devserver import SynapseServer
from tests.pgserver import PostgresServer, find_pg_bin

__all__ = ["make_synapse", "postgres_url", "server_loop", "skip_or_fail", "synapse", "synapse_strict"]

T = TypeVar("T")

_START_TIMEOUT = 120.0


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="server-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the thread's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def in_ci() -> bool:
    """``CI`` is set (to ``true`` by GitHub Actions, GitLab CI…) and not ``false``/``0``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip for a missing tool on a developer's machine; fail in CI, where it must be."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing server fails the run instead of skipping)",
                    pytrace=False)
    pytest.skip(reason)


def _require_synapse() -> None:
    if importlib.util.find_spec("synapse") is None:
        skip_or_fail("matrix-synapse is not installed: pip install -e '.[dev]'")


def _start(loop: LoopThread, workdir: pathlib.Path, relax: bool) -> SynapseServer:
    server = SynapseServer(workdir, relax_rate_limits=relax)
    loop.run(server.start(timeout=_START_TIMEOUT), timeout=_START_TIMEOUT + 30)
    return server


def _stop(loop: LoopThread, server: SynapseServer) -> None:
    loop.run(server.stop(), timeout=60)


@pytest.fixture(scope="session")
def server_loop() -> Iterator[LoopThread]:
    """The background event loop that owns the Synapse subprocesses."""
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def synapse(
    server_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SynapseServer]:
    """A Synapse shared by the whole session, rate limits relaxed."""
    _require_synapse()
    server = _start(server_loop, tmp_path_factory.mktemp("synapse"), relax=True)
    yield server
    _stop(server_loop, server)


@pytest.fixture
def synapse_strict(
    server_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SynapseServer]:
    """A fresh Synapse with default rate limits (rc_message 0.5/s, burst 3)."""
    _require_synapse()
    server = _start(server_loop, tmp_path_factory.mktemp("synapse_strict"), relax=False)
    yield server
    _stop(server_loop, server)


@pytest.fixture
def make_synapse(
    server_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., SynapseServer]]:
    """Factory for extra servers, all stopped when the test ends.

    Call it synchronously, even from an async test (start-up takes about
    1.5 s and runs on the background loop)::

        server = make_synapse(relax_rate_limits=True)
        await server.kill()   # the homeserver goes away
    """
    _require_synapse()
    servers: list[SynapseServer] = []

    def factory(relax_rate_limits: bool = True) -> SynapseServer:
        workdir = tmp_path_factory.mktemp("synapse_extra")
        server = _start(server_loop, workdir, relax=relax_rate_limits)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        _stop(server_loop, server)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL ``postgresql+psycopg://USER@127.0.0.1:PORT/maillage`` of a live server.

    Its folder is a fresh ``/tmp/maillage-pg-*``, not under pytest's basetemp: pytest
    resets ``/tmp/pytest-of-<user>`` to mode 0700 on every run, which would lock out the
    ``postgres`` user the server runs as when tests run as root.
    """
    if find_pg_bin() is None:
        skip_or_fail("PostgreSQL binaries not found (initdb/pg_ctl): install the postgresql package")
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="maillage-pg-"))
    server = PostgresServer(workdir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
