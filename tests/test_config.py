"""Configuration: the contract keys parse, errors name the key, placeholders are refused."""

from __future__ import annotations

import logging
import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from bot.support.config import ConfigError, load_config, parse_config
from bot.support.logs import SecretFilter, register_secret

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def minimal(**overrides) -> dict:
    raw = {"matrix": {"homeserver": "https://matrix.reseau.fr", "user_id": "@maillage:reseau.fr",
                      "password": "s3cret-pass"}}
    for table, values in overrides.items():
        raw.setdefault(table, {}).update(values)
    return raw


def test_example_file_has_every_contract_key_and_is_refused_as_is():
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(raw["matrix"]) >= {"homeserver", "user_id", "password", "device_name", "store_path"}
    assert set(raw["bot"]) >= {"command_prefix", "timezone", "network_name", "facilitator_power_level",
                               "facilitators", "allowed_inviters", "off_record_marker"}
    assert set(raw["http"]) == {"host", "port", "public_url"}
    assert set(raw["email"]) == {"host", "port", "starttls", "username", "password", "from"}
    assert raw["reminders"]["offsets"] == ["7d", "1d", "1h"]
    with pytest.raises(ConfigError, match=r"^matrix\.homeserver still holds"):
        load_config(EXAMPLE, env={})


def test_example_file_loads_once_placeholders_are_replaced(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8").replace("example.org", "reseau-cpo.fr")
    text = text.replace('password = "change-me"', 'password = "vrai-mot-de-passe"')
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "config.toml", env={})
    assert config.matrix.user_id == "@maillage:reseau-cpo.fr"
    assert config.matrix.store_path == tmp_path / "data/store"
    assert config.database.url == f"sqlite:///{tmp_path / 'data/maillage.db'}"
    assert config.reminders.offsets == (timedelta(days=7), timedelta(days=1), timedelta(hours=1))
    assert config.email.sender == "Maillage <maillage@reseau-cpo.fr>"
    assert config.bot.allowed_inviters == ("@*:reseau-cpo.fr",)


@pytest.mark.parametrize("raw, message", [
    ({}, r"\[matrix\] table is required"),
    ({"matrix": {"homeserver": "https://h.fr", "password": "x1234"}}, r"matrix\.user_id is required"),
    (minimal(matrix={"user_id": "maillage"}), r"matrix\.user_id must look like"),
    (minimal(matrix={"homeserver": "matrix.fr"}), r"matrix\.homeserver must start with"),
    (minimal(bot={"timezone": "Europe/Lutece"}), r"bot\.timezone: unknown time zone"),
    (minimal(bot={"facilitator_power_level": "50"}), r"bot\.facilitator_power_level must be a int"),
    (minimal(bot={"facilitators": ["maita"]}), r"bot\.facilitators: 'maita' is not a Matrix user id"),
    (minimal(bot={"command_prefix": "a"}), r"bot\.command_prefix must be"),
    (minimal(bot={"colour": "blue"}), r"bot\.colour is not a known option"),
    (minimal(reminders={"offsets": ["7 jours"]}), r"reminders\.offsets must hold offsets"),
    (minimal(http={"port": 70000}), r"http\.port must be between"),
    (minimal(database={"url": "mysql://x"}), r"database\.url must be"),
    (minimal(email={"from": "a@b.fr"}), r"email\.host is required"),
    (minimal(minutes={"formats": ["odt"]}), r"minutes\.formats: 'odt' is not one of md, html, docx, pdf"),
    ({**minimal(), "extra": {}}, r"\[extra\] is not a known table"),
])
def test_errors_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, env={})


def test_password_required_unless_in_environment():
    raw = minimal()
    del raw["matrix"]["password"]
    with pytest.raises(ConfigError, match="matrix.password or matrix.access_token is required"):
        parse_config(raw, env={})
    config = parse_config(raw, env={"MAILLAGE_MATRIX_ACCESS_TOKEN": "syt_token_from_env"})
    assert config.matrix.access_token == "syt_token_from_env"


def test_environment_overrides_the_file():
    config = parse_config(minimal(), env={"MAILLAGE_MATRIX_PASSWORD": "from-env-1"})
    assert config.matrix.password == "from-env-1"


def test_secrets_are_not_in_reprs():
    config = parse_config(minimal(email={"host": "smtp.reseau.fr", "from": "m@reseau.fr",
                                         "password": "smtp-secret"}), env={})
    assert "s3cret-pass" not in repr(config) and "smtp-secret" not in repr(config)


def test_secret_filter_masks_secrets_in_messages_and_tracebacks():
    register_secret("s3cret-pass")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login with %s failed", ("s3cret-pass",), None)
    SecretFilter().filter(record)
    assert record.getMessage() == "login with *** failed"
    try:
        raise RuntimeError("connection to postgresql://bot:s3cret-pass@db failed")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    SecretFilter().filter(record)
    assert "s3cret-pass" not in logging.Formatter().format(record) and "bot:***@db" in record.exc_text


def test_database_password_is_not_in_reprs():
    config = parse_config(minimal(database={"url": "postgresql+psycopg://bot:pg-secret@db/maillage"}),
                          env={})
    assert "pg-secret" not in repr(config) and "bot:***@db" in repr(config.database)
