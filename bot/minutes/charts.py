"""Charts of a room's séances: the *météo du jour* and participation, as PNG images.

Built from plain data (`SeancePoint`, filled from the database by
`bot.minutes.load.seance_history`), so tests call them with hand-made values. Each chart
comes with a French text alternative that states the same numbers (for the ``alt``
of the HTML image, the DOCX picture's description, the room's image ``body``, and
readers who do not see images).

matplotlib is imported lazily (the bot starts without it) and used through its
object API with the Agg canvas: no display, no global pyplot state, safe in the worker
thread. Rendering is CPU-bound: call it from the worker thread, never the event loop.
"""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.domain.capture_parse import MOOD_EMOJIS

MIN_SEANCES = 2  # one séance is nothing to compare
MAX_SEANCES = 12  # the latest ones, a school year of monthly rencontres
MOODS = (1, 2, 3, 4, 5)
MOOD_COLOURS = {1: "#7b2d26", 2: "#c8553d", 3: "#f2a541", 4: "#9ccfd8", 5: "#f6d743"}
MOOD_NAMES = {mood: f"{emoji} {mood}" for mood, emoji in MOOD_EMOJIS.items()}
ACCENT = "#1f4e79"
MUTED = "#8a96a3"
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.2, 3.3, 110


@dataclass(frozen=True)
class SeancePoint:
    """One séance as the charts see it (frozen: its moods are a read-only copy)."""

    number: int  # compte rendu n°
    date_text: str  # "11/05/2022": the axis label and the text alternative
    moods: Mapping[int, int] = field(default_factory=dict)  # mood 1..5 → how many answered it
    present: int = 0  # présent·e·s (facilitators included)
    excused: int = 0
    cites: int = 0  # cités éducatives represented among the présent·e·s
    current: bool = False  # the séance of these minutes: highlighted

    def __post_init__(self) -> None:
        object.__setattr__(self, "moods", MappingProxyType(dict(self.moods)))

    @property
    def answers(self) -> int:
        return sum(self.moods.values())

    @property
    def mean(self) -> float | None:
        count = self.answers
        return sum(mood * n for mood, n in self.moods.items()) / count if count else None


@dataclass(frozen=True)
class Chart:
    """A PNG image and its text alternative."""

    title: str
    png: bytes
    width: int
    height: int
    alt: str

    @property
    def data_uri(self) -> str:
        """The image inline (``data:``), as the standalone HTML and the PDF embed it."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


# --- text alternatives ------------------------------------------------------------------------


def _decimal(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _label(point: SeancePoint) -> str:
    current = ", cette séance" if point.current else ""
    return f"n°{point.number} ({point.date_text}{current})"


def _mood_counts(point: SeancePoint) -> str:
    return ", ".join(f"{MOOD_NAMES[mood]} : {point.moods.get(mood, 0)}" for mood in reversed(MOODS)
                     if point.moods.get(mood, 0))


def meteo_alt(points: Sequence[SeancePoint]) -> str:
    """The météo chart in words: per séance, answers, mean and each mood's count."""
    parts = []
    for point in points:
        if point.mean is None:
            parts.append(f"{_label(point)} : pas de réponse")
        else:
            answers = "1 réponse" if point.answers == 1 else f"{point.answers} réponses"
            parts.append(f"{_label(point)} : {answers}, moyenne {_decimal(point.mean)}/5 "
                         f"({_mood_counts(point)})")
    return "Météo du jour par séance — " + " ; ".join(parts) + "."


def participation_alt(points: Sequence[SeancePoint]) -> str:
    """The participation chart in words: présent·e·s, excusé·e·s, cités per séance."""
    parts = [f"{_label(p)} : {p.present} présent·e·s, {p.excused} excusé·e·s, "
             f"{p.cites} cité{'s' if p.cites > 1 else ''} éducative{'s' if p.cites > 1 else ''} "
             f"représentée{'s' if p.cites > 1 else ''}" for p in points]
    return "Participation par séance — " + " ; ".join(parts) + "."


# --- drawing ---------------------------------------------------------------------------------


def _figure():
    from matplotlib.figure import Figure  # lazy: heavy, and only needed here

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _x_labels(axes, points: Sequence[SeancePoint]) -> None:
    axes.set_xticks(range(len(points)),
                    [f"n°{p.number}\n{p.date_text}" for p in points], fontsize=8)
    for tick, point in zip(axes.get_xticklabels(), points, strict=True):
        if point.current:
            tick.set_fontweight("bold")
            tick.set_color(ACCENT)


def _highlight(axes, points: Sequence[SeancePoint]) -> None:
    for index, point in enumerate(points):
        if point.current:
            axes.axvspan(index - 0.45, index + 0.45, color=ACCENT, alpha=0.08, zorder=0)


def _png(figure) -> tuple[bytes, int, int]:
    buffer = io.BytesIO()
    # No metadata (software, date): the same data gives the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    data = buffer.getvalue()
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return data, width, height


def meteo_chart(points: Sequence[SeancePoint]) -> Chart:
    """Stacked bars of the moods answered at each séance, the mean as a line (right axis)."""
    figure, axes = _figure()
    positions = range(len(points))
    bottoms = [0] * len(points)
    for mood in MOODS:
        counts = [p.moods.get(mood, 0) for p in points]
        axes.bar(positions, counts, bottom=bottoms, width=0.6, color=MOOD_COLOURS[mood],
                 label=f"humeur {mood}/5", edgecolor="white", linewidth=0.5)
        bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
    _highlight(axes, points)
    axes.set_ylabel("réponses", fontsize=9)
    axes.yaxis.get_major_locator().set_params(integer=True)
    means = axes.twinx()
    means.spines[["top"]].set_visible(False)
    values = [p.mean if p.mean is not None else float("nan") for p in points]
    means.plot(positions, values, color=ACCENT, marker="o", linewidth=2, label="moyenne")
    for x, value in zip(positions, values, strict=True):
        if value == value:  # not NaN
            means.annotate(_decimal(value), (x, value), textcoords="offset points", xytext=(0, 6),
                           ha="center", fontsize=8, color=ACCENT)
    means.set_ylim(1, 5.6)
    means.set_ylabel("moyenne /5", fontsize=9, color=ACCENT)
    _x_labels(axes, points)
    axes.legend(loc="upper left", fontsize=7, ncols=5, frameon=False, bbox_to_anchor=(0, 1.16))
    axes.set_title("Météo du jour", loc="right", fontsize=10, color=ACCENT)
    png, width, height = _png(figure)
    return Chart("Météo du jour par séance", png, width, height, meteo_alt(points))


def participation_chart(points: Sequence[SeancePoint]) -> Chart:
    """Bars of présent·e·s and excusé·e·s per séance, the cités represented as a line."""
    figure, axes = _figure()
    positions = list(range(len(points)))
    present = [p.present for p in points]
    excused = [p.excused for p in points]
    axes.bar([x - 0.18 for x in positions], present, width=0.36, color=ACCENT, label="présent·e·s")
    axes.bar([x + 0.18 for x in positions], excused, width=0.36, color=MUTED, label="excusé·e·s")
    axes.plot(positions, [p.cites for p in points], color="#f2a541", marker="s", linewidth=2,
              label="cités éducatives représentées")
    for x, value in zip(positions, present, strict=True):
        axes.annotate(str(value), (x - 0.18, value), textcoords="offset points", xytext=(0, 2),
                      ha="center", fontsize=8)
    _highlight(axes, points)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_ylim(0, max([*present, *excused, *(p.cites for p in points), 1]) * 1.2)
    axes.set_ylabel("personnes / cités", fontsize=9)
    _x_labels(axes, points)
    axes.legend(loc="upper left", fontsize=7, ncols=3, frameon=False, bbox_to_anchor=(0, 1.16))
    axes.set_title("Participation", loc="right", fontsize=10, color=ACCENT)
    png, width, height = _png(figure)
    return Chart("Participation par séance", png, width, height, participation_alt(points))


def history_charts(points: Sequence[SeancePoint], limit: int | None = MAX_SEANCES) -> tuple[Chart, ...]:
    """Both charts over the latest ``limit`` séances (None: all); none with fewer than two."""
    points = list(points)[-limit:] if limit else list(points)
    if len(points) < MIN_SEANCES:
        return ()
    return meteo_chart(points), participation_chart(points)
