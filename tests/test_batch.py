"""A backlog handled in batches (``Core.handle_all``): runs of plain events share one
transaction with their processed marks and outbox rows, commands keep their own, and
one bad event never takes the others of its batch down. Exactly-once still holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot.app.wiring import build_core
from bot.domain import capture
from bot.engine import rooms
from bot.engine.core import SET_ASIDE_AFTER, EventRetry
from bot.engine.events import Edit, Message, Reaction, Redaction
from bot.storage.models import (
    Item,
    ItemEdit,
    ItemKind,
    Outbox,
    ProcessedEvent,
    Profile,
    Seance,
    SetAsideEvent,
)
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM

BOT = "@maillage:localhost"


def message(number: int, body: str, sender: str = MEMBER) -> Message:
    return Message(f"$b{number}", ROOM, sender, body, NOW + timedelta(seconds=number))


@pytest.fixture
def core(config, db, room):
    rooms.register(db, ROOM, NOW, None)   # as the runtime does when it joins
    core = build_core(config, db, BOT, clock=lambda: NOW)
    core.handle(Message("$open", ROOM, FACILITATOR, "!seance ouvrir", NOW), room)
    return core


def discussion(db) -> list[str]:
    with db.session() as session:
        query = select(Item).where(Item.kind == ItemKind.DISCUSSION).order_by(Item.id)
        return [item.text for item in session.exec(query)]


def replies(db) -> list[str]:
    with db.session() as session:
        rows = session.exec(select(Outbox).where(Outbox.source_event_id != "$open").order_by(Outbox.id))
        return [row.content.get("body", "") for row in rows]


class Counter:
    """Commits and SQL statements run on ``db``'s engine while active."""

    def __init__(self, db):
        self.engine, self.commits, self.statements = db.engine, 0, 0

    def _commit(self, *_):
        self.commits += 1

    def _statement(self, *_):
        self.statements += 1

    def __enter__(self):
        event.listen(self.engine, "commit", self._commit)
        event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *_):
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "before_cursor_execute", self._statement)


def test_a_bad_command_inside_a_batch_is_refused_alone(core, db, room):
    batch = [message(1, "premier"), message(2, "deuxième"),
             message(3, "!profil ; CE Soissons"),                 # empty function: refused
             message(4, "troisième"), message(5, "!profil Cheffe de projet ; CE Beauvais"),
             message(6, "quatrième"), Reaction("$b7", ROOM, MEMBER, "$b1", "👍", NOW)]
    core.handle_all(batch, room)
    assert discussion(db) == ["premier", "deuxième", "troisième", "quatrième"]
    bodies = replies(db)
    assert len(bodies) == 2 and "La fonction est vide" in bodies[0]
    with db.session() as session:
        assert session.get(Profile, MEMBER).structure == "CE Beauvais"
        assert all(session.get(ProcessedEvent, r.event_id) for r in batch)
    # The batch again (a crash before the sync token was saved): nothing repeats.
    assert core.handle_all(batch, room) == 0
    assert discussion(db) == ["premier", "deuxième", "troisième", "quatrième"]
    assert len(replies(db)) == 2


def test_a_run_of_plain_messages_is_one_transaction_without_repeated_lookups(core, db, room):
    batch = [message(n, f"message {n}", MEMBER if n % 2 else FACILITATOR) for n in range(1, 101)]
    with Counter(db) as counter:
        core.handle_all(batch, room)
    assert len(discussion(db)) == 100
    assert counter.commits == 1
    # Per message: its item, first version and processed mark inserted; lookups once a run.
    assert counter.statements <= 3 * len(batch) + 20, counter.statements


def test_a_run_finds_its_own_messages_before_they_are_flushed(core, db, room):
    """A new message is not flushed on its own (``capture.store``): the replies, edits and
    redactions of the same run must still find it, each message stored exactly once."""
    batch = [message(1, "racine"), message(2, "à effacer"),
             Message("$b3", ROOM, FACILITATOR, "réponse", NOW, reply_to="$b1"),
             Message("$b4", ROOM, MEMBER, "réponse à la réponse", NOW, reply_to="$b3"),
             Edit("$b5", ROOM, MEMBER, "$b1", "racine corrigée", NOW + timedelta(seconds=5)),
             Redaction("$b6", ROOM, MEMBER, "$b2", NOW), message(7, "après")]
    with Counter(db) as counter:
        core.handle_all(batch, room)
    assert counter.commits == 1
    with db.session() as session:
        items = {i.event_id: i for i in session.exec(select(Item).where(Item.kind == ItemKind.DISCUSSION))}
        versions = sorted(v.event_id for v in session.exec(select(ItemEdit)))
    assert sorted(items) == ["$b1", "$b3", "$b4", "$b7"]
    assert items["$b1"].text == "racine corrigée" and items["$b1"].edited_at is not None
    assert items["$b3"].parent_event_id == items["$b4"].parent_event_id == "$b1"
    assert versions == ["$b1", "$b3", "$b4", "$b5", "$b7"]
    assert core.handle_all(batch, room) == 0   # replayed: nothing twice
    assert sorted(discussion(db)) == ["après", "racine corrigée", "réponse", "réponse à la réponse"]


def test_a_run_failing_at_its_commit_is_handled_again_alone_and_loses_nothing(core, db, room):
    """The items of a run are inserted at its commit: a row refused there (here a second
    first version of ``$b1``) rolls the run back whole, then each event is handled alone."""
    def clash(ctx, record):
        if record.body == "conflit":
            ctx.session.add(ItemEdit(event_id="$b1", item_event_id="$b1", text="x", edited_at=NOW))

    batch = [message(1, "avant"), message(2, "conflit"), message(3, "après")]
    core.registry.listeners["message"].append(clash)
    try:
        for _ in range(SET_ASIDE_AFTER - 1):   # retried: the sync loop replays the batch
            with pytest.raises(EventRetry):
                core.handle_all(batch, room)
        core.handle_all(batch, room)
        core.handle_all(batch, room)            # replayed once more: nothing twice
    finally:
        core.registry.listeners["message"].remove(clash)
    assert discussion(db) == ["avant", "après"]
    with db.session() as session:
        assert [row.event_id for row in session.exec(select(SetAsideEvent))] == ["$b2"]
        assert len(session.exec(select(ProcessedEvent).where(
            col(ProcessedEvent.event_id).in_([r.event_id for r in batch]))).all()) == 3


def test_a_crashing_event_in_a_run_is_set_aside_alone(core, db, room, caplog):
    def boom(ctx, record):
        if record.body == "poison":
            raise RuntimeError("bug")

    batch = [message(1, "avant"), message(2, "poison"), message(3, "après")]
    core.registry.listeners["message"].insert(0, boom)
    try:
        for _ in range(SET_ASIDE_AFTER - 1):   # retried: the sync loop replays the batch
            with pytest.raises(EventRetry):
                core.handle_all(batch, room)
        core.handle_all(batch, room)
    finally:
        core.registry.listeners["message"].remove(boom)
    assert discussion(db) == ["avant", "après"]
    with db.session() as session:
        assert [row.event_id for row in session.exec(select(SetAsideEvent))] == ["$b2"]


def test_live_messages_one_by_one_reuse_lookups_across_transactions(core, db, room):
    with Counter(db) as counter:
        for n in range(1, 51):
            core.handle(message(n, f"message {n}"), room)
    assert len(discussion(db)) == 50 and counter.commits == 50
    # Per message: the processed check, its item, first version and mark; a commit.
    assert counter.statements <= 5 * 50 + 10, counter.statements


def test_what_a_command_changes_is_read_again_by_the_next_message(core, db, room):
    core.handle(message(1, "avant le profil"), room)
    core.handle(message(2, "!profil Cheffe de projet ; CE Beauvais"), room)
    core.handle(message(3, "après le profil"), room)
    core.handle(message(4, "!seance clore", FACILITATOR), room)
    core.handle(message(5, "après la clôture"), room)
    with db.session() as session:
        items = session.exec(select(Item).where(Item.kind == ItemKind.DISCUSSION).order_by(Item.id))
        assert [(i.text, i.structure) for i in items] == [("avant le profil", ""),
                                                         ("après le profil", "CE Beauvais")]



def test_a_row_kept_from_an_earlier_event_is_saved_when_changed(core, db, room):
    """A lookup cached across routine events comes back attached to the new transaction:
    a listener that changes it changes the database."""
    def rename(ctx, record):
        if record.body == "renomme":
            capture.open_seance(ctx.session, ctx.room_id).title = "Titre changé"

    core.handle(message(1, "premier"), room)         # caches the open séance
    core.registry.listeners["message"].append(rename)
    try:
        core.handle(message(2, "renomme"), room)
    finally:
        core.registry.listeners["message"].remove(rename)
    with db.session() as session:
        assert session.exec(select(Seance)).one().title == "Titre changé"
