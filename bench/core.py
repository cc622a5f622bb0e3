"""Throughput of the core: events handled per second through ``Core.handle`` (live
traffic: one transaction per event) and ``Core.handle_all`` (a backlog after downtime:
one transaction per run of plain events, one per command).

Each transaction holds the changes, the processed markers and the outbox rows, as in
production. Runs on SQLite in a temporary folder (WAL, synchronous=FULL), and
on PostgreSQL when ``MAILLAGE_BENCH_PG`` holds a URL. Measures, during an open séance:
free discussion messages, commands with a reply (``!aide profil``), captured items
(``!info``), edits, and a backlog of discussion with a command every 50 messages.
No assertions: figures to watch.

    python bench/core.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app.wiring import build_core
from bot.engine import rooms
from bot.engine.core import Core
from bot.engine.events import Edit, Message
from bot.engine.roomstate import RoomState
from bot.storage.db import Database
from bot.support.config import parse_config

ROOM = "!bench:localhost"
FACILITATOR = "@maita:localhost"
PEOPLE = [f"@member{n}:localhost" for n in range(40)]
COUNT = 500
NOW = datetime(2027, 6, 10, 12, 0, tzinfo=UTC)


def room_state() -> RoomState:
    state = RoomState(ROOM, room_version="11", power_users={FACILITATOR: 100})
    state.joined |= {FACILITATOR, *PEOPLE}
    state.display_names.update({user: user[1:].split(":")[0].title() for user in state.joined})
    return state


def timed(label: str, core: Core, room: RoomState, records: list, backlog: bool = False) -> None:
    started = time.perf_counter()
    if backlog:
        core.handle_all(records, room)
    for record in [] if backlog else records:
        core.handle(record, room)
    elapsed = time.perf_counter() - started
    print(f"  {label:<32} {len(records) / elapsed:8.0f} events/s   {elapsed / len(records) * 1000:6.2f} ms/event")


def run(url: str, label: str) -> None:
    config = parse_config({"matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@maillage:localhost",
                                      "password": "bench-password"}, "database": {"url": url}}, env={})
    db = Database(url)
    db.upgrade()
    rooms.register(db, ROOM, NOW, None)   # as the runtime does when it joins
    core, room = build_core(config, db, "@maillage:localhost", clock=lambda: NOW), room_state()
    core.handle(Message("$open", ROOM, FACILITATOR, "!seance ouvrir Séance de mesure", NOW), room)
    print(f"{label} ({COUNT} events each)")
    say = [Message(f"$m{n}", ROOM, PEOPLE[n % 40], f"Message de discussion n°{n}", NOW) for n in range(COUNT)]
    timed("free discussion (captured)", core, room, say)
    timed("!aide profil (one reply each)", core, room,
          [Message(f"$c{n}", ROOM, PEOPLE[n % 40], "!aide profil", NOW) for n in range(COUNT)])
    timed("!info (captured item + ack)", core, room,
          [Message(f"$i{n}", ROOM, PEOPLE[n % 40], f"!info point n°{n}", NOW) for n in range(COUNT)])
    timed("edits of discussion messages", core, room,
          [Edit(f"$e{n}", ROOM, PEOPLE[n % 40], f"$m{n}", f"Message corrigé n°{n}", NOW) for n in range(COUNT)])
    backlog = [Message(f"$b{n}", ROOM, PEOPLE[n % 40],
                       "!aide profil" if n % 50 == 49 else f"Message en retard n°{n}", NOW)
               for n in range(COUNT)]
    timed("backlog (handle_all, 2% commands)", core, room, backlog, backlog=True)
    db.dispose()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/bench.db", "SQLite")
    if os.environ.get("MAILLAGE_BENCH_PG"):
        run(os.environ["MAILLAGE_BENCH_PG"], "PostgreSQL")
