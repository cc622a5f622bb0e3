"""``!bilan [année | 2025-2026]``: the room's year at a glance, for facilitators.

A short summary (séances held, average attendance, cités éducatives represented,
météo, actions opened and done) and, from two séances on, the charts of the météo
and of participation (`bot.minutes.charts`), posted as images. Without an argument:
the current calendar year; ``2025-2026`` is a school year (1 September – 31 August).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.engine.context import Context
from bot.engine.registry import FACILITATORS, UsageError, command
from bot.minutes.build import decimal_fr
from bot.minutes.charts import history_charts
from bot.minutes.load import load_period
from bot.minutes.record import PeriodRecord
from bot.support.text import md_line
from commands.cr import CHART_STEMS, post_chart

USAGE = "bilan [année | 2025-2026]"
YEAR = re.compile(r"^(?P<year>\d{4})$")
SCHOOL_YEAR = re.compile(r"^(?P<first>\d{4})\s*[-/–]\s*(?P<second>\d{4})$")
FIRST_YEAR, LAST_YEAR = 2000, 2100


@dataclass(frozen=True)
class Period:
    start: datetime  # included, in the room's time zone
    end: datetime  # excluded
    name: str  # "2025", "2025-2026": in titles and file names
    text: str  # "de l'année 2025", "de l'année scolaire 2025-2026"


def parse_period(args: str, now: datetime) -> Period:
    """The calendar year (default: ``now``'s) or the school year asked for."""
    text = args.strip()
    tz = now.tzinfo
    if not text:
        text = str(now.year)
    if match := YEAR.match(text):
        year = _checked(int(match["year"]))
        return Period(datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz),
                      str(year), f"de l'année {year}")
    if match := SCHOOL_YEAR.match(text):
        first, second = _checked(int(match["first"])), int(match["second"])
        if second != first + 1:
            raise UsageError(f"une année scolaire va d'une année à la suivante (par exemple "
                             f"{first}-{first + 1}), pas « {md_line(text)} ».", USAGE)
        return Period(datetime(first, 9, 1, tzinfo=tz), datetime(second, 9, 1, tzinfo=tz),
                      f"{first}-{second}", f"de l'année scolaire {first}-{second}")
    raise UsageError(f"« {md_line(args)} » n'est ni une année (2025) ni une année scolaire "
                     "(2025-2026).", USAGE)


def _checked(year: int) -> int:
    if not FIRST_YEAR <= year < LAST_YEAR:
        raise UsageError(f"l'année {year} est hors de portée ({FIRST_YEAR}–{LAST_YEAR - 1}).", USAGE)
    return year


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def summary_lines(period: PeriodRecord) -> list[str]:
    """The summary's bullet lines, numbers first."""
    points, numbers = period.points, period.numbers
    held = len(numbers)
    shown = f"n°{numbers[0]}" if held == 1 else f"n°{numbers[0]} à n°{numbers[-1]}"
    lines = [
        f"Séances tenues : {held} ({shown})",
        (f"Participation moyenne : {decimal_fr(sum(p.present for p in points) / held)} présent·e·s "
         f"par séance, {decimal_fr(sum(p.excused for p in points) / held)} excusé·e·s"),
        (f"Cités éducatives représentées : {period.cites} sur la période "
         f"({decimal_fr(sum(p.cites for p in points) / held)} par séance en moyenne)"),
    ]
    answers = sum(p.answers for p in points)
    if answers:
        mean = sum((p.mean or 0) * p.answers for p in points) / answers
        lines.append(f"Météo du jour : moyenne {decimal_fr(mean)}/5 sur "
                     f"{_plural(answers, 'réponse', 'réponses')}")
    lines.append(f"Actions : {_plural(period.actions, 'ouverte', 'ouvertes')}, "
                 f"{_plural(period.done, 'faite', 'faites')}")
    return lines


@command("bilan", usage=USAGE, facilitator=True, group=FACILITATORS,
         help="bilan de l'année du salon (ou de l'année scolaire 2025-2026) : séances, "
              "participation, cités représentées, actions, avec les graphiques")
def bilan(ctx: Context, args: str) -> None:
    period = parse_period(args, ctx.now.astimezone(ctx.tz))
    figures = load_period(ctx.tx, ctx.room_id, period.start, period.end, ctx.config, ctx.room, ctx.tz)
    if not figures.numbers:
        ctx.reply(f"Aucune séance close dans ce salon au cours {period.text}.")
        return
    lines = [f"**Bilan {period.text}**", ""]
    lines += [f"- {line}" for line in summary_lines(figures)]
    charts = history_charts(figures.points, limit=None)
    if not charts:
        lines += ["", "_Les graphiques viennent à partir de deux séances._"]
    ctx.reply("\n".join(lines))
    for stem, chart in zip(CHART_STEMS, charts, strict=False):
        post_chart(ctx, chart, f"{stem}-bilan-{period.name}.png")
