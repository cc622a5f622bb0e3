"""The *météo du jour* in figures: how many answered, the spread of moods, the mean and
its trend against the room's previous séance with a météo.

The answers themselves are captured by :mod:`bot.domain.capture` (one météo item per
person); here they are only counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlmodel import Session, col, select

from bot.storage.models import Item, ItemKind, Seance

TREND_THRESHOLD = 0.25              # a change of mean mood below a quarter point is "stable"
TRENDS = ("en baisse", "stable", "en hausse")


@dataclass(frozen=True)
class MeteoSummary:
    """The figures of a séance's météo (frozen: its distribution is a read-only copy)."""

    count: int                      # people who gave their météo
    distribution: Mapping[int, int]  # mood 1..5 → how many (all five keys, zeros included)
    mean: float | None
    previous_mean: float | None     # of the room's latest earlier séance with a météo
    trend: str | None               # "en hausse" | "stable" | "en baisse" | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "distribution", MappingProxyType(dict(self.distribution)))


def _moods(session: Session, seance_id: int) -> list[int]:
    query = select(Item.mood).where(Item.seance_id == seance_id, Item.kind == ItemKind.METEO)
    return [mood for mood in session.exec(query) if mood is not None]


def _previous_moods(session: Session, seance: Seance) -> list[int]:
    """The moods of the room's latest earlier séance that had a météo."""
    query = (select(Seance.id)
             .where(Seance.room_id == seance.room_id, Seance.number < seance.number)
             .order_by(col(Seance.number).desc()))
    for seance_id in session.exec(query):
        moods = _moods(session, seance_id)
        if moods:
            return moods
    return []


def _mean(moods: list[int]) -> float | None:
    return sum(moods) / len(moods) if moods else None


def trend(mean: float | None, previous: float | None) -> str | None:
    if mean is None or previous is None:
        return None
    change = mean - previous
    falling, stable, rising = TRENDS
    if abs(change) < TREND_THRESHOLD:
        return stable
    return rising if change > 0 else falling


def meteo_summary(session: Session, seance: Seance) -> MeteoSummary:
    """How many gave their météo, the spread of moods, the mean and its trend."""
    moods = _moods(session, seance.id)
    distribution = {mood: moods.count(mood) for mood in range(1, 6)}
    mean, previous = _mean(moods), _mean(_previous_moods(session, seance))
    return MeteoSummary(len(moods), distribution, mean, previous, trend(mean, previous))
