"""Time of the compte-rendu from the database: builder, then each format.

Fills a real SQLite database (in a temporary folder, migrated like production)
with séances of 200, 2 000 and 20 000 captured messages from 40 people with
profiles: a météo each, local news, four agenda items with !info points and a
discussion where one message in five replies to another, questions, actions and
resources. Then, for each séance, prints how long `build_view` (database →
view-model) takes, and each renderer separately: Markdown, HTML, DOCX, the room's
HTML and the PDF (WeasyPrint, over the HTML; only for 2 000 and 20 000 messages).
Nine smaller séances come first, so that the room has 12 séances of history: the
charts' data (`seance_history`, database → points) and the two charts (matplotlib)
are timed on them. No assertions: figures to watch.

    python bench/minutes.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.engine.roomstate import RoomState
from bot.minutes.charts import history_charts
from bot.minutes.docx import render_docx
from bot.minutes.load import build_view, seance_history
from bot.minutes.pdf import render_pdf
from bot.minutes.render import render_html, render_markdown
from bot.storage.db import Database
from bot.storage.models import (
    Attendance,
    Item,
    ItemKind,
    Profile,
    Rencontre,
    Seance,
    SeanceStatus,
    Topic,
)
from bot.support.config import parse_config
from bot.support.templating import template_env
from bot.support.text import markdown_to_html

SIZES = (200, 2_000, 20_000)
PDF_SIZES = (2_000, 20_000)
EARLIER = 9  # séances of 100 messages before the measured ones: 12 in all
PEOPLE = 40
ROOM = "!bench:localhost"
START = datetime(2027, 6, 10, 12, 0, tzinfo=UTC)
AGENDA = ("Tour d'écran des participant·e·s", "Présentation et partage d'expérience",
          "Évaluation des cités éducatives", "Mise en perspective des prochaines séances")


def user(n: int) -> str:
    return f"@cpo{n % PEOPLE:02d}:localhost"


def add_people(session) -> None:
    for n in range(PEOPLE):
        session.add(Profile(user_id=user(n), full_name=f"Mme Participante{n:02d} Prénom",
                            role="Cheffe de projet cité éducative", structure=f"CE Ville {n % 12}",
                            updated_at=START))


def add_seance(session, number: int, messages: int) -> Seance:
    start = START - timedelta(weeks=4 * (EARLIER + len(SIZES) - number))  # one a month
    rencontre = Rencontre(room_id=ROOM, number=number, uid=f"bench-{number}", title="Réseau régional des CPO",
                          agenda=list(AGENDA), start_at=start, end_at=start + timedelta(hours=3),
                          created_at=start, updated_at=start)
    session.add(rencontre)
    session.flush()
    seance = Seance(room_id=ROOM, number=number, rencontre_id=rencontre.id, status=SeanceStatus.CLOSED,
                    opened_by=user(0), opened_at=start, closed_at=start + timedelta(hours=3))
    session.add(seance)
    session.flush()
    session.add_all(Attendance(seance_id=seance.id, user_id=user(n), first_seen_at=start)
                    for n in range(PEOPLE - number))  # attendance varies from séance to séance
    topics = [Topic(seance_id=seance.id, position=i + 1, title=t, started_at=START) for i, t in enumerate(AGENDA)]
    session.add_all(topics)
    session.flush()
    session.add_all(items(seance, [t.id for t in topics], messages))
    return seance


def item(seance: Seance, n: int, kind: str, topic: int | None, **fields) -> Item:
    return Item(seance_id=seance.id, topic_id=topic, kind=kind, event_id=f"$b{seance.number}-{n}",
                sender=user(n), created_at=START + timedelta(seconds=n), **fields)


def items(seance: Seance, topics: list[int], messages: int) -> list[Item]:
    """The séance's captured items: ``messages`` discussion messages among others."""
    made = [item(seance, n, ItemKind.METEO, None, mood=1 + n % 5, text=f"Météo {n}") for n in range(PEOPLE)]
    kinds = (ItemKind.LOCAL_NEWS, ItemKind.INFO, ItemKind.QUESTION, ItemKind.ACTION, ItemKind.RESOURCE)
    base = len(made)
    for n in range(base, base + 40):
        kind = kinds[n % len(kinds)]
        made.append(item(seance, n, kind, topics[n % 4], text=f"Élément {n} : *important*",
                         structure=f"CE Ville {n % 12}", url=f"https://exemple.fr/{n}",
                         owner=user(n) if kind == ItemKind.ACTION else "", action_number=n))
    base = len(made)
    for n in range(base, base + messages):
        parent = made[-1].event_id if n % 5 == 4 else None
        made.append(item(seance, n, ItemKind.DISCUSSION, topics[(n - base) * 4 // messages],
                         text=f"Message {n} : retour d'expérience, voir https://exemple.fr/r_{n} et les "
                              "*outils* partagés.", parent_event_id=parent))
    return made


def timed(label: str, size: int, action: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    length = f"{len(result):,}" if isinstance(result, str | bytes) else ""
    print(f"{size:>9,}  {label:<13} {seconds:>8.3f}  {length:>12}")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config({"matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@bot:localhost",
                                          "password": "bench-only"},
                               "database": {"url": f"sqlite:///{folder}/bench.db"}}, env={})
        database = Database(config.database.url)
        database.upgrade()
        with database.session() as session:
            add_people(session)
            for number in range(1, EARLIER + 1):
                add_seance(session, number, 100)
            seances = [add_seance(session, EARLIER + i + 1, size) for i, size in enumerate(SIZES)]
        state = RoomState(ROOM, power_users={user(0): 100})
        env = template_env()
        print(f"{'messages':>9}  {'step':<13} {'seconds':>8}  {'size':>12}")
        for seance, size in zip(seances, SIZES, strict=True):
            with database.session() as session:
                view = timed("build (DB)", size, lambda s=session, x=seance: build_view(
                    s, x, config, state, START + timedelta(days=1), False))
            markdown = timed("markdown", size, lambda v=view: render_markdown(v, env))
            html = timed("html", size, lambda v=view: render_html(v, env))
            timed("docx", size, lambda v=view: render_docx(v))
            timed("room html", size, lambda m=markdown: markdown_to_html(m))
            if size in PDF_SIZES:
                timed("pdf", size, lambda h=html: render_pdf(h))
        with database.session() as session:
            last = seances[-1]
            points = timed("history (DB)", 12, lambda s=session: seance_history(
                s, last, config, state, config.bot.tz))
        charts = timed("charts", len(points), lambda: history_charts(points))
        print(f"{'':>9}  {'':<13} {'':>8}  {sum(len(c.png) for c in charts):>12,}  (PNG bytes, 2 charts)")
        database.dispose()


if __name__ == "__main__":
    main()
