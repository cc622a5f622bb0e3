"""Render time of the compte-rendu in each format, for large séances.

Builds view-models with 200, 2 000 and 20 000 captured discussion messages from
40 people, spread over four agenda items (one message in five is a reply), and
prints how long each format takes. No assertions: a figure to watch.

    python bench/minutes_render.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.minutes_render import (
    markdown_to_room_html,
    render_docx,
    render_html,
    render_markdown,
    template_env,
)
from bot.minutes_view import Entry, Header, MinutesView, Person, Section

SIZES = (200, 2_000, 20_000)
PEOPLE = tuple(
    Person(f"Mme Participante{i:02d} Prénom", f"Cheffe de projet cité éducative ; CE Ville {i}")
    for i in range(40)
)
AGENDA = (
    "Tour d'écran des participant·e·s",
    "Présentation et partage d'expérience",
    "Évaluation des cités éducatives",
    "Mise en perspective des prochaines séances",
)


def message(n: int) -> Entry:
    person = PEOPLE[n % len(PEOPLE)]
    text = (
        f"Message {n} : retour d'expérience sur la mobilisation des parents, "
        f"voir https://exemple.fr/ressource_{n} et les *outils* partagés."
    )
    return Entry(text, author=person.name)


def discussion(start: int, count: int) -> tuple[Entry, ...]:
    """`count` messages; every fifth one is a reply to the message before it."""
    entries: list[Entry] = []
    for n in range(start, start + count):
        if n % 5 == 4 and entries:
            parent = entries.pop()
            entries.append(Entry(parent.text, parent.author, children=(message(n),)))
        else:
            entries.append(message(n))
    return tuple(entries)


def view(messages: int) -> MinutesView:
    per_item = messages // len(AGENDA)
    return MinutesView(
        header=Header(
            network_name="Cités éducatives des Hauts-de-France",
            title="Réseau régional des CPO",
            number=12,
            date_text="jeudi 9 juin 2022",
            hours_text="14h–17h",
            mode_text="en distanciel",
        ),
        agenda=AGENDA,
        present=PEOPLE,
        exchanges=tuple(
            Section(title, discussion=discussion(i * per_item, per_item))
            for i, title in enumerate(AGENDA)
        ),
    )


def timed(render: Callable[..., object], *args: object) -> tuple[float, int]:
    start = time.perf_counter()
    output = render(*args)
    return time.perf_counter() - start, len(output)  # type: ignore[arg-type]


def main() -> None:
    env = template_env()
    render_markdown(view(4), env)  # compile the templates once, outside the figures
    render_html(view(4), env)
    print(f"{'messages':>9}  {'format':<10} {'seconds':>8}  {'size':>12}")
    for size in SIZES:
        minutes = view(size)
        md_text = render_markdown(minutes, env)
        formats: dict[str, tuple[Callable[..., object], tuple[object, ...]]] = {
            "markdown": (render_markdown, (minutes, env)),
            "html": (render_html, (minutes, env)),
            "docx": (render_docx, (minutes,)),
            "room html": (markdown_to_room_html, (md_text,)),
        }
        for name, (render, args) in formats.items():
            seconds, length = timed(render, *args)
            print(f"{size:>9,}  {name:<10} {seconds:>8.3f}  {length:>12,}")


if __name__ == "__main__":
    main()
