"""Encrypted events waiting for their keys: parked once, retried, counted while unread."""

from __future__ import annotations

from datetime import timedelta

from bot.engine import undecryptable
from tests.conftest import MEMBER, NOW, ROOM


def encrypted(event_id: str, minutes: int) -> dict:
    stamp = int((NOW + timedelta(minutes=minutes)).timestamp() * 1000)
    return {"type": "m.room.encrypted", "event_id": event_id, "sender": MEMBER,
            "origin_server_ts": stamp, "content": {"algorithm": "m.megolm.v1.aes-sha2",
                                                   "ciphertext": "…", "session_id": "s"}}


def test_parked_once_counted_in_its_window_then_forgotten(db):
    assert undecryptable.park(db, ROOM, encrypted("$a", 5), NOW)
    assert not undecryptable.park(db, ROOM, encrypted("$a", 5), NOW)   # a replayed batch
    undecryptable.park(db, ROOM, encrypted("$b", 90), NOW)
    assert [e["event_id"] for _room, e in undecryptable.waiting(db, NOW)] == ["$a", "$b"]
    with db.session() as session:
        assert undecryptable.count_between(session, ROOM, NOW, NOW + timedelta(hours=1)) == 1
        assert undecryptable.count_between(session, ROOM, NOW, None) == 2
        assert undecryptable.count_between(session, "!other:localhost", NOW, None) == 0
    undecryptable.forget(db, ["$a"])
    assert [e["event_id"] for _room, e in undecryptable.waiting(db, NOW)] == ["$b"]


def test_old_parked_events_are_no_longer_retried_but_still_counted(db):
    undecryptable.park(db, ROOM, encrypted("$old", 0), NOW)
    later = NOW + undecryptable.RETRY_WINDOW + timedelta(minutes=1)
    assert undecryptable.waiting(db, later) == []
    with db.session() as session:
        assert undecryptable.count_between(session, ROOM, NOW - timedelta(hours=1), None) == 1


def test_the_note_says_how_many_in_french():
    assert undecryptable.unreadable_note(0) == ""
    assert "1 message chiffré n'a pas pu être déchiffré" in undecryptable.unreadable_note(1)
    assert "3 messages chiffrés n'ont pas pu être déchiffrés" in undecryptable.unreadable_note(3)


def test_a_late_message_is_filed_only_in_the_seance_it_was_sent_in(db):
    from bot.storage.models import Seance, SeanceStatus

    with db.session() as session:
        session.add(Seance(room_id=ROOM, number=1, opened_at=NOW, status=SeanceStatus.OPEN))
    sent_during = encrypted("$during", 10)
    sent_before = encrypted("$before", -10)
    now = NOW + timedelta(minutes=20)
    assert undecryptable.still_timely(db, ROOM, sent_during, now)          # same séance
    assert not undecryptable.still_timely(db, ROOM, sent_before, now)      # before it opened
    assert not undecryptable.still_timely(db, ROOM, sent_during, NOW + timedelta(hours=2))
    with db.session() as session:
        seance = session.get(Seance, 1)
        seance.status, seance.closed_at = SeanceStatus.CLOSED, NOW + timedelta(minutes=15)
    assert not undecryptable.still_timely(db, ROOM, sent_during, now)      # closed since
    assert undecryptable.still_timely(db, ROOM, encrypted("$after", 17), now)  # no séance, none now
