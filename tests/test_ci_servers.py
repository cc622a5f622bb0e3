"""A missing Synapse, PostgreSQL or Node skips on a developer's machine but fails in CI:
a CI run must not pass by skipping the tests that need them."""

from __future__ import annotations

import pytest

from tests import conftest_servers, icalcheck

EMPTY_CALENDAR = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"


@pytest.mark.parametrize("value, ci", [("true", True), ("1", True), ("", False), ("false", False)])
def test_in_ci(monkeypatch, value, ci):
    monkeypatch.setenv("CI", value)
    assert conftest_servers.in_ci() is ci


def outcome(call, *args) -> BaseException:
    """What ``call`` raised: pytest's skip or fail outcome (both are caught, so that a skip
    where a failure is expected fails this test rather than skipping it)."""
    with pytest.raises((pytest.skip.Exception, pytest.fail.Exception)) as raised:
        call(*args)
    return raised.value


def missing_synapse(monkeypatch):
    find_spec = conftest_servers.importlib.util.find_spec
    monkeypatch.setattr(conftest_servers.importlib.util, "find_spec",
                        lambda name, *args: None if name == "synapse" else find_spec(name, *args))


def test_missing_synapse_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    missing_synapse(monkeypatch)
    assert isinstance(outcome(conftest_servers._require_synapse), pytest.skip.Exception)


def test_missing_synapse_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    missing_synapse(monkeypatch)
    failed = outcome(conftest_servers._require_synapse)
    assert isinstance(failed, pytest.fail.Exception) and "matrix-synapse is not installed" in str(failed)


def test_missing_postgresql_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(conftest_servers, "find_pg_bin", lambda: None)
    failed = outcome(next, conftest_servers.postgres_url.__wrapped__())
    assert isinstance(failed, pytest.fail.Exception) and "PostgreSQL binaries not found" in str(failed)


def test_missing_node_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(icalcheck.shutil, "which", lambda name: None)
    failed = outcome(icalcheck.parse_with_icaljs, EMPTY_CALENDAR)
    assert isinstance(failed, pytest.fail.Exception) and "needs Node.js" in str(failed)
    monkeypatch.setenv("CI", "false")
    assert isinstance(outcome(icalcheck.parse_with_icaljs, EMPTY_CALENDAR), pytest.skip.Exception)
