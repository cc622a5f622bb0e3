"""Storage on SQLite and on a real PostgreSQL server: migrations, UTC datetimes,
refusal of a newer database, exactly-once handling."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import SQLModel, select

from bot.app.wiring import build_core
from bot.engine.events import Message
from bot.storage.db import Database, DatabaseTooNew, current_revision, head_revision
from bot.storage.models import Item, ItemEdit, Outbox, ProcessedEvent, Profile, Rencontre, new_row
from tests.conftest import MEMBER, NOW, ROOM


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A fresh, empty database on each engine (a new PostgreSQL database per test)."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        server_url = request.getfixturevalue("postgres_url")
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = server_url.replace("+psycopg", "")
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        db = Database(server_url.rsplit("/", 1)[0] + "/" + name)
    yield db
    db.dispose()


def test_upgrade_from_empty_then_idempotent(database):
    assert current_revision(database.engine) is None
    assert database.upgrade() == (None, head_revision())
    assert database.upgrade() == (head_revision(), head_revision())


def test_schema_matches_the_models(database):
    database.upgrade()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def _migrate(database, revision: str, downgrade: bool = False) -> None:
    from alembic import command

    from bot.storage.db import _alembic_config
    with database.engine.begin() as connection:
        (command.downgrade if downgrade else command.upgrade)(_alembic_config(connection), revision)


def test_english_column_names_keep_the_data_both_ways(database):
    """0008 renames French columns (and drops two unused ones) with rows in the tables,
    a rencontre referenced by a séance and a registration included; downgrade restores."""
    _migrate(database, "0007_network")
    rows = (
        "INSERT INTO room (room_id, joined_at, encrypted_notice_sent) VALUES ('!r:x', :t, false)",
        "INSERT INTO profile (user_id, full_name, fonction, structure, updated_at) "
        "VALUES ('@a:x', 'A', 'Cheffe de projet', 'CE Soissons', :t)",
        "INSERT INTO rencontre (id, room_id, number, uid, title, mode, lieu, lien, objectif, agenda, "
        "speakers, start_at, all_day, timezone, status, cancel_reason, sequence, created_by, "
        "created_at, updated_at) VALUES (1, '!r:x', 1, 'u1', 'T', 'hybride', 'Mairie', "
        "'https://x.fr', 'Partager', '[]', '[]', :t, false, 'Europe/Paris', 'planned', '', 0, '', "
        ":t, :t)",
        "INSERT INTO seance (id, room_id, number, rencontre_id, title, status, opened_by, opened_at, "
        "meteo_prompt_txn) VALUES (1, '!r:x', 1, 1, 'S', 'open', '', :t, 'txn')",
        "INSERT INTO registration (rencontre_id, user_id, status, reason, updated_at) "
        "VALUES (1, '@a:x', 'registered', '', :t)",
    )
    with database.engine.begin() as connection:
        for statement in rows:
            connection.execute(text(statement), {"t": "2027-01-01 10:00:00.000000"})
    _migrate(database, "head")
    with database.session() as session:
        assert session.get(Profile, "@a:x").role == "Cheffe de projet"
        rencontre = session.get(Rencontre, 1)
        assert (rencontre.place, rencontre.link, rencontre.objective) == (
            "Mairie", "https://x.fr", "Partager")
    _migrate(database, "0007_network", downgrade=True)
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT fonction FROM profile")).scalar() == "Cheffe de projet"
        assert connection.execute(text("SELECT lieu || lien || objectif FROM rencontre")).scalar() == (
            "Mairiehttps://x.frPartager")
        assert connection.execute(text("SELECT count(*) FROM registration")).scalar() == 1
        assert connection.execute(text("SELECT meteo_prompt_txn FROM seance")).scalar() == ""


def test_a_newer_database_is_refused(database):
    database.upgrade()
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseTooNew, match="9999"):
        database.upgrade()


def test_datetimes_are_stored_as_utc_instants(database):
    database.upgrade()
    paris = datetime(2027, 6, 9, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    with database.session() as session:
        session.add(Rencontre(room_id=ROOM, number=1, uid="u1@maillage", start_at=paris,
                              end_at=paris + timedelta(hours=3), created_at=NOW, updated_at=NOW))
    with database.session() as session:
        stored = session.exec(select(Rencontre)).one()
    assert stored.start_at == datetime(2027, 6, 9, 12, 0, tzinfo=timezone.utc)
    assert stored.start_at.tzinfo == timezone.utc
    with pytest.raises(StatementError, match="naive datetime"):
        with database.session() as session:
            session.add(Profile(user_id="@x:localhost", updated_at=datetime(2027, 1, 1)))


def test_transaction_ids_are_unique(database):
    database.upgrade()
    row = dict(room_id=ROOM, txn_id="mlg.same", event_type="m.room.message",
               content={"body": "é ✅ 🌤️"}, created_at=NOW)
    with database.session() as session:
        session.add(Outbox(**row))
    with pytest.raises(IntegrityError):
        with database.session() as session:
            session.add(Outbox(**row))
    with database.session() as session:
        assert session.exec(select(Outbox)).one().content == {"body": "é ✅ 🌤️"}


def test_core_handles_each_event_once_and_rolls_back_bad_input(database, config, room):
    database.upgrade()
    core = build_core(config, database, "@maillage:localhost", clock=lambda: NOW)
    assert core.handle(Message("$a", ROOM, MEMBER, "!profil Cheffe ; CE Arras", NOW), room) == 1
    assert core.handle(Message("$a", ROOM, MEMBER, "!profil Cheffe ; CE Arras", NOW), room) == 0
    assert core.handle(Message("$b", ROOM, MEMBER, "!profil ; CE Lens", NOW), room) == 1
    with database.session() as session:
        assert session.get(Profile, MEMBER).structure == "CE Arras"
        assert len(session.exec(select(Outbox)).all()) == 2


@pytest.mark.parametrize("model, values", [
    (Item, {"seance_id": 1, "kind": "discussion", "event_id": "$a", "sender": MEMBER, "created_at": NOW}),
    (ItemEdit, {"event_id": "$a", "item_event_id": "$a", "text": "premier", "edited_at": NOW,
                "mentions": [MEMBER]}),
    (ProcessedEvent, {"event_id": "$a", "room_id": ROOM, "handled_at": NOW}),
])
def test_a_row_made_by_new_row_is_the_constructor_s(model, values):
    """``new_row`` (the capture's cheap constructor) makes what the model's constructor
    makes: same fields, defaults included (a fresh list for a default factory)."""
    made, built = new_row(model, **values), model(**values)
    assert made.model_dump() == built.model_dump()
    assert set(made.__dict__) == set(built.__dict__)
    if model is ItemEdit:
        assert new_row(ItemEdit, **{**values, "mentions": None}).formatted_body == ""
        assert new_row(ItemEdit, event_id="$b", item_event_id="$b", text="", edited_at=NOW).mentions \
            is not new_row(ItemEdit, event_id="$c", item_event_id="$c", text="", edited_at=NOW).mentions


def test_a_row_made_by_new_row_is_stored_with_its_later_changes(database):
    """Inserted with every value, defaults included, and a change made before the flush
    is saved too."""
    database.upgrade()
    with database.session() as session:
        version = new_row(ItemEdit, event_id="$a", item_event_id="$a", text="premier",
                          edited_at=NOW, mentions=[MEMBER])
        session.add(version)
        version.text = "changé avant l'écriture"
        session.add(new_row(ProcessedEvent, event_id="$a", room_id=ROOM, handled_at=NOW))
    with database.session() as session:
        stored = session.get(ItemEdit, "$a")
        assert (stored.text, stored.mentions, stored.formatted_body, stored.edited_at) == (
            "changé avant l'écriture", [MEMBER], "", NOW)
        assert session.get(ProcessedEvent, "$a").handled_at == NOW
