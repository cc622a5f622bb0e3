"""Rencontres: the domain behind ``!rencontre``, registrations and announcement reactions.

What a facilitator types is a first line (a date, or a number) followed by optional
``clé: valeur`` lines; :func:`parse_fields` reads them and :func:`apply_fields` checks
and applies them to a :class:`Rencontre`. Create, change and cancel, numbering, the
lookup of ``n``, occurrences of repeated rencontres and RSVPs work on the SQLModel
session of the caller's transaction. Nothing here sends messages: the commands
format replies, the reminders their own text; :func:`view_of` is what both show.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from bot.domain.dates import (
    MONTH_WORDS,
    WEEKDAYS_FR,
    Recurrence,
    When,
    format_when_fr,
    occurrences,
    parse_recurrence,
    parse_when,
)
from bot.domain.zones import zone_suffix
from bot.storage.models import (
    Announcement,
    CancelledOccurrence,
    Rencontre,
    RencontreStatus,
)
from bot.support.errors import PREFIX, UserError
from bot.support.text import excerpt, normalize, safe_url

DEFAULT_TITLE = "Rencontre du réseau"
MAX_VALUE = 300             # characters in one value
MAX_LIST = 30               # agenda items, speakers
ASSUMED_LENGTH = timedelta(hours=2)   # when only a start time was given
ANNOUNCE_TAG = "announce"


# --- keys of the "clé: valeur" lines ---------------------------------------------------

@dataclass(frozen=True)
class Key:
    name: str                       # as shown to users
    label: str                      # in "Modifié : …"
    repeatable: bool = False
    aliases: tuple[str, ...] = ()


KEYS = (
    Key("titre", "titre", aliases=("title", "nom")),
    Key("date", "date", aliases=("quand", "when")),
    Key("mode", "mode", aliases=("format",)),
    Key("lieu", "lieu", aliases=("adresse", "place", "location")),
    Key("lien", "lien", aliases=("link", "url", "visio")),
    Key("objectif", "objectif", aliases=("objectifs", "objective")),
    Key("odj", "ordre du jour", repeatable=True, aliases=("ordre du jour", "agenda", "point")),
    Key("intervenant", "intervenant·e·s", repeatable=True,
        aliases=("intervenants", "intervenante", "intervenantes", "speaker", "speakers")),
    Key("repeter", "répétition", aliases=("repetition", "recurrence", "repeat")),
)
KEY_BY_WORD = {normalize(word): key for key in KEYS for word in (key.name, *key.aliases)}
# "clé: valeur"; a bare "https://…" line is not key "https".
KEY_LINE = re.compile(r"^(?P<key>[^\W\d_][\w'’ ]{0,29}?)\s*:(?!//)\s*(?P<value>.*)$")
BULLET_LINE = re.compile(r"^[-•*]\s+(?P<value>.+)$")   # a pasted agenda: "- point"


def keys_help() -> str:
    return ", ".join(f"{k.name} (répétable)" if k.repeatable else k.name for k in KEYS)


def _key_of(word: str) -> Key:
    key = KEY_BY_WORD.get(" ".join(normalize(word).replace("’", "'").split()))
    if key is None:
        raise UserError(f"je ne connais pas la clé « {excerpt(word)} ». "
                        f"Clés possibles : {keys_help()}.")
    return key


def parse_fields(lines: list[str]) -> dict[str, list[str]]:
    """``clé: valeur`` lines → values by key name, in order (blank lines skipped).

    A line starting with a bullet ("- …") is an agenda item, as in a pasted agenda."""
    fields: dict[str, list[str]] = {}
    for raw in lines:
        line = " ".join(raw.split())
        if not line:
            continue
        bullet, match = BULLET_LINE.match(line), KEY_LINE.match(line)
        if bullet and not match:
            fields.setdefault("odj", []).append(bullet["value"])
            continue
        if match is None:
            raise UserError(f"la ligne « {excerpt(line)} » n'est pas de la forme "
                            "« clé: valeur » (par exemple « titre: Réseau CPO »).")
        key = _key_of(match["key"])
        if not key.repeatable and key.name in fields:
            raise UserError(f"la clé « {key.name} » est donnée deux fois.")
        fields.setdefault(key.name, []).append(match["value"].strip())
    return fields


# --- values ----------------------------------------------------------------------------

# Rencontre.mode → how it is named: alone ("présentiel"), and in a sentence ("en présentiel").
MODES = {
    "distanciel": ("distanciel", "en distanciel"),
    "presentiel": ("présentiel", "en présentiel"),
    "hybride": ("hybride", "en mode hybride"),
}
MODE_LABELS = {mode: label for mode, (label, _) in MODES.items()}
MODE_TEXTS = {mode: text for mode, (_, text) in MODES.items()}
MODE_WORDS = {
    "distanciel": "distanciel", "a distance": "distanciel", "en ligne": "distanciel",
    "visio": "distanciel", "en visio": "distanciel", "visioconference": "distanciel",
    "presentiel": "presentiel", "en presentiel": "presentiel", "sur place": "presentiel",
    "hybride": "hybride", "mixte": "hybride",
}  # fmt: skip
NO_REPEAT_WORDS = {"non", "aucune", "aucun", "jamais", "plus", "ne plus repeter", "une seule fois"}


def mode_label(mode: str) -> str:
    return MODE_LABELS.get(mode, mode)


def parse_mode(text: str) -> str:
    mode = MODE_WORDS.get(" ".join(normalize(text).split()))
    if mode is None:
        raise UserError(f"le mode « {excerpt(text)} » n'existe pas : distanciel "
                        "(ou « en ligne », « visio »), présentiel (ou « sur place ») ou hybride.")
    return mode


def parse_link(text: str) -> str:
    url = safe_url(text)
    if not url:
        raise UserError(f"le lien « {excerpt(text)} » n'est pas une adresse web "
                        "complète : il doit commencer par https:// (ou http://).")
    return url


def field_text(key: str, value: str) -> str:
    if len(value) > MAX_VALUE:
        raise UserError(f"la valeur de « {key} » est trop longue ({len(value)} caractères, "
                        f"{MAX_VALUE} au plus).")
    return value


def _items(key: str, values: list[str]) -> list[str]:
    items = [field_text(key, v) for v in values if v]
    if len(items) > MAX_LIST:
        raise UserError(f"trop de lignes « {key} » ({len(items)}, {MAX_LIST} au plus).")
    return items


def when_error(error: UserError) -> UserError:
    """A refused date's French message, as part of a rencontre's refusal."""
    message = error.message
    return UserError(message[:1].lower() + message[1:])


# --- recurrence --------------------------------------------------------------------------

RANKS = {1: "1er", 2: "2e", 3: "3e", 4: "4e", -1: "dernier"}


def recurrence_of(rencontre: Rencontre) -> Recurrence | None:
    data = rencontre.recurrence
    if not data:
        return None
    rank = data.get("by_weekday_rank")
    return Recurrence(data["freq"], int(data["interval"]), tuple(rank) if rank else None)


def recurrence_dict(rec: Recurrence) -> dict:
    rank = list(rec.by_weekday_rank) if rec.by_weekday_rank else None
    return {"freq": rec.freq, "interval": rec.interval, "by_weekday_rank": rank}


def _period_text(rec: Recurrence) -> str:
    """ "toutes les 2 semaines", "tous les mois": also what parse_recurrence reads back."""
    if rec.freq == "WEEKLY":
        return "toutes les semaines" if rec.interval == 1 else f"toutes les {rec.interval} semaines"
    return "tous les mois" if rec.interval == 1 else f"tous les {rec.interval} mois"


def describe_recurrence(rec: Recurrence | None) -> str:
    """ "tous les mois (le 1er jeudi)", "toutes les 2 semaines"; "" when not repeated."""
    if rec is None:
        return ""
    if rec.by_weekday_rank is None:
        return _period_text(rec)
    weekday, rank = rec.by_weekday_rank
    return f"{_period_text(rec)} (le {RANKS[rank]} {WEEKDAYS_FR[weekday]} du mois)"


# --- occurrences -------------------------------------------------------------------------

def when_of(rencontre: Rencontre) -> When:
    """The rencontre (the first occurrence of a series) in its own time zone."""
    tz = ZoneInfo(rencontre.timezone)
    end = rencontre.end_at.astimezone(tz) if rencontre.end_at else None
    return When(rencontre.start_at.astimezone(tz), end, rencontre.all_day)


def ends_at(when: When) -> datetime:
    return when.end if when.end is not None else when.start + ASSUMED_LENGTH


def cancelled_starts(session: Session, rencontre: Rencontre) -> set[datetime]:
    query = select(CancelledOccurrence.occurrence_start).where(
        CancelledOccurrence.rencontre_id == rencontre.id)
    return set(session.exec(query))


def next_occurrences(rencontre: Rencontre, cancelled: set[datetime], now: datetime, count: int,
                     *, ongoing: bool = True) -> list[When]:
    """The next ``count`` dates still to come, cancelled ones left out; with ``ongoing``, one
    under way counts too (so you may still register during the rencontre)."""
    if rencontre.status != RencontreStatus.PLANNED or count <= 0:
        return []
    first = when_of(rencontre)
    after = now - (ends_at(first) - first.start) if ongoing else now + timedelta(microseconds=1)
    found = occurrences(first, recurrence_of(rencontre), after, count + len(cancelled) + 1)
    kept = [w for w in found if w.start not in cancelled and (ends_at(w) > now if ongoing else True)]
    return kept[:count]


def occurrence_on(rencontre: Rencontre, cancelled: set[datetime], day: date,
                  now: datetime) -> When | None:
    """The (not yet begun) occurrence that falls on ``day``, local time, if any."""
    first = when_of(rencontre)
    after = datetime.combine(day, datetime.min.time(), first.start.tzinfo)
    after = max(now, after)
    for when in occurrences(first, recurrence_of(rencontre), after, 1):
        if when.start.date() == day and when.start not in cancelled:
            return when
    return None


# --- lookup --------------------------------------------------------------------------------

NUMBER = re.compile(r"^#?(?P<number>\d+)(?:\s+(?P<rest>.*))?$", re.DOTALL)
MAX_NUMBER_DIGITS = 6


def split_number(args: str) -> tuple[int | None, str]:
    """ "4 motif", "#4" → (4, "motif"); anything else → (None, args). A number of more than
    six digits is refused: it is a typo, never a motif or a title to act on."""
    match = NUMBER.match(args.strip())
    if match is None:
        return None, args.strip()
    if len(match["number"].lstrip("0")) > MAX_NUMBER_DIGITS:
        raise UserError(f"« {excerpt(match['number'])} » n'est pas un numéro de rencontre "
                        f"({MAX_NUMBER_DIGITS} chiffres au plus).")
    return int(match["number"]), (match["rest"] or "").strip()


def by_number(session: Session, room_id: str, number: int) -> Rencontre:
    query = select(Rencontre).where(Rencontre.room_id == room_id, Rencontre.number == number)
    found = session.exec(query).first()
    if found is None:
        raise UserError(f"il n'y a pas de rencontre #{number} dans ce salon "
                        f"(la liste : `{PREFIX}rencontres`).", markdown=True)
    return found


def upcoming(session: Session, room_id: str, now: datetime) -> list[tuple[Rencontre, When]]:
    """Planned rencontres of the room not yet over, by their next date."""
    query = select(Rencontre).where(Rencontre.room_id == room_id,
                                    Rencontre.status == RencontreStatus.PLANNED)
    found = []
    for rencontre in session.exec(query):
        nexts = next_occurrences(rencontre, cancelled_starts(session, rencontre), now, 1)
        if nexts:
            found.append((rencontre, nexts[0]))
    return sorted(found, key=lambda pair: (pair[1].start, pair[0].number))


def target(session: Session, room_id: str, number: int | None, now: datetime) -> Rencontre:
    """Rencontre ``#number``, or the next one of the room when no number is given."""
    if number is not None:
        return by_number(session, room_id, number)
    coming = upcoming(session, room_id, now)
    if not coming:
        raise UserError("il n'y a aucune rencontre à venir dans ce salon.")
    return coming[0][0]


def open_date(session: Session, rencontre: Rencontre, now: datetime) -> When | None:
    """The next date of a rencontre one may still answer or change; None when it is
    cancelled or past."""
    if rencontre.status == RencontreStatus.CANCELLED:
        return None
    nexts = next_occurrences(rencontre, cancelled_starts(session, rencontre), now, 1)
    return nexts[0] if nexts else None


def require_open(session: Session, rencontre: Rencontre, now: datetime) -> When:
    """The next date of a rencontre one may still answer or change; refused otherwise."""
    if rencontre.status == RencontreStatus.CANCELLED:
        raise UserError(f"la rencontre #{rencontre.number} est annulée.")
    when = open_date(session, rencontre, now)
    if when is None:
        raise UserError(f"la rencontre #{rencontre.number} est déjà passée.")
    return when


# --- create, change, cancel ---------------------------------------------------------------

def next_number(session: Session, room_id: str) -> int:
    """Numbers are never reused: cancelled rencontres keep theirs."""
    highest = session.exec(select(func.max(Rencontre.number)).where(Rencontre.room_id == room_id)).one()
    return (highest or 0) + 1


def _set_when(rencontre: Rencontre, text: str, tz: ZoneInfo, now: datetime) -> None:
    try:
        when = parse_when(text, tz, now)
    except UserError as error:
        raise when_error(error) from None
    rencontre.start_at, rencontre.end_at, rencontre.all_day = when.start, when.end, when.all_day
    rencontre.timezone = tz.key


def _set_recurrence(rencontre: Rencontre, text: str) -> None:
    if " ".join(normalize(text).split()) in NO_REPEAT_WORDS:
        rencontre.recurrence = None
        return
    try:
        rec = parse_recurrence(text, when_of(rencontre).start)
    except UserError as error:
        raise when_error(error) from None
    rencontre.recurrence = recurrence_dict(rec)


def _follow_new_date(rencontre: Rencontre) -> None:
    """A monthly rule repeats on the start's weekday rank: recompute it for the new date."""
    rec = recurrence_of(rencontre)
    if rec is not None:
        _set_recurrence(rencontre, _period_text(rec))


SIMPLE_TEXT = {"titre": "title", "lieu": "place", "objectif": "objective"}


def apply_fields(rencontre: Rencontre, fields: dict[str, list[str]], tz: ZoneInfo, now: datetime,
                 *, creating: bool) -> list[str]:
    """Check and apply the given keys; returns the labels of what was given, in key order.

    An empty value is refused when creating and clears the field when changing (title,
    date and mode excepted); repeatable keys replace the whole list."""
    for name, values in fields.items():
        if (creating or name in ("titre", "date", "mode", "repeter")) and not all(values):
            raise UserError(f"la clé « {name} » n'a pas de valeur.")
    if "date" in fields:
        _set_when(rencontre, fields["date"][0], tz, now)
        if "repeter" not in fields:   # else the new rule is read below, for the new date
            _follow_new_date(rencontre)
    for name, attribute in SIMPLE_TEXT.items():
        if name in fields:
            setattr(rencontre, attribute, field_text(name, fields[name][0]))
    if "mode" in fields:
        rencontre.mode = parse_mode(fields["mode"][0])
    if "lien" in fields:
        rencontre.link = parse_link(fields["lien"][0]) if fields["lien"][0] else ""
    if "odj" in fields:
        rencontre.agenda = _items("odj", fields["odj"])
    if "intervenant" in fields:
        rencontre.speakers = _items("intervenant", fields["intervenant"])
    if "repeter" in fields:
        _set_recurrence(rencontre, fields["repeter"][0])
    return [key.label for key in KEYS if key.name in fields]


def create(session: Session, room_id: str, date_text: str, fields: dict[str, list[str]], *,
           tz: ZoneInfo, now: datetime, created_by: str, uid_domain: str) -> Rencontre:
    """A new rencontre, numbered after every earlier one of the room."""
    if date_text and "date" in fields:
        raise UserError("la date est donnée deux fois (sur la première ligne et avec « date: »).")
    if not date_text and "date" not in fields:
        raise UserError("il manque la date et l'heure, par exemple « 9 juin 2027 14h-17h ».")
    fields = {"date": [date_text], **fields} if date_text else fields
    rencontre = Rencontre(room_id=room_id, number=next_number(session, room_id),
                          uid=f"rencontre-{uuid.uuid4().hex}@{uid_domain}", title=DEFAULT_TITLE,
                          start_at=now, created_by=created_by, created_at=now, updated_at=now)
    apply_fields(rencontre, fields, tz, now, creating=True)
    session.add(rencontre)
    session.flush()
    return rencontre


def modify(session: Session, rencontre: Rencontre, fields: dict[str, list[str]], *, tz: ZoneInfo,
           now: datetime) -> list[str]:
    """Change an open rencontre; returns the labels of the changed fields."""
    require_open(session, rencontre, now)
    if not fields:
        raise UserError("indiquez ce qui change, une ligne « clé: valeur » par champ "
                        f"(clés : {keys_help()}).")
    changed = apply_fields(rencontre, fields, tz, now, creating=False)
    _touch(session, rencontre, now)
    return changed


def cancel(session: Session, rencontre: Rencontre, reason: str, now: datetime) -> None:
    """Cancel the rencontre (a repeated one: the whole series)."""
    require_open(session, rencontre, now)
    rencontre.status = RencontreStatus.CANCELLED
    rencontre.cancel_reason = field_text("motif", reason)
    _touch(session, rencontre, now)


def cancel_occurrence(session: Session, rencontre: Rencontre, when: When, reason: str,
                      now: datetime) -> None:
    """Cancel one date of a repeated rencontre (an iCalendar EXDATE)."""
    session.add(CancelledOccurrence(rencontre_id=rencontre.id, occurrence_start=when.start,
                                    reason=field_text("motif", reason)))
    _touch(session, rencontre, now)


def _touch(session: Session, rencontre: Rencontre, now: datetime) -> None:
    rencontre.sequence += 1
    rencontre.updated_at = now
    session.add(rencontre)
    session.flush()


DATE_WORDS_MAX = 6   # "jeudi 1er juillet 2027 14h-17h"
# The words a date is written with ("jeudi 1er juillet 2027 14h-17h", "31/02"), accent-free.
_DAY_WORD = re.compile(r"^(?:1er|\d{1,2})$")
_NUMERIC_DATE = re.compile(r"^\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{1,4})?$")
_YEAR_WORD = re.compile(r"^\d{4}$")
_TIME_WORD = re.compile(r"^\d{1,2}(?:h\d{0,2}|:\d{2})(?:-\d{1,2}(?:h\d{0,2}|:\d{2})?)?$")
# Between times only: "de 14h à 17h", "14h - 17h", "entre 14h et 17h".
_TIME_LINKS = frozenset({"de", "des", "a", "au", "entre", "et", "-", "jusqu'a"})


def _month_word(word: str) -> bool:
    return normalize(word).strip(",;.") in MONTH_WORDS


def _date_word(word: str) -> bool:
    plain = normalize(word).strip(",;")
    return (plain in WEEKDAYS_FR or _month_word(word)
            or any(p.match(plain) for p in (_DAY_WORD, _NUMERIC_DATE, _YEAR_WORD, _TIME_WORD)))


def _continues_date(words: list[str], index: int) -> bool:
    """Is ``words[index]`` still part of the date ("de" only when a time follows)?"""
    if _date_word(words[index]):
        return True
    following = words[index + 1] if index + 1 < len(words) else ""
    return normalize(words[index]) in _TIME_LINKS and bool(_TIME_WORD.match(normalize(following)))


def _looks_like_date(words: list[str], after_le: bool) -> bool:
    """After "le", a weekday, a day number or a numeric date starts a date ("le 32 janvier");
    without it, only a day with its month ("31 février", "jeudi 9 juin") or "31/02" does
    ("3 intervenants malades" stays a motif)."""
    first = normalize(words[0])
    if _NUMERIC_DATE.match(first):
        return True
    if first in WEEKDAYS_FR or _DAY_WORD.match(first):
        return after_le or any(_month_word(w) for w in words[1:3])
    return False


def _date_span(words: list[str]) -> tuple[int, int]:
    """How many leading words the date may take: (fewest, most). Never fewer than up to
    the month and its year: "jeudi 31 février" must not be read as "jeudi", nor
    "1er janvier 2026" (past) as "1er janvier" with the motif "2026"."""
    longest = 1
    while longest < min(len(words), DATE_WORDS_MAX + 2) and _continues_date(words, longest):
        longest += 1   # + 2: the links of "de 14h à 17h"
    months = [i for i, w in enumerate(words[:longest]) if _month_word(w)]
    shortest = months[0] + 1 if months else 1
    if months and shortest < longest and _YEAR_WORD.match(words[shortest]):
        shortest += 1
    return shortest, longest


def split_date_prefix(text: str, tz: ZoneInfo, now: datetime) -> tuple[date, str] | None:
    """ "le 1er juillet grève des transports" → (that day, "grève des transports"); None when
    the text does not start with a date. What is written like a date must be a valid one:
    "le 31 février" is refused (:class:`~bot.support.errors.UserError`), never read as a motif."""
    words = text.split()
    after_le = bool(words) and normalize(words[0]) == "le"
    words = words[1:] if after_le else words
    if not words or not _looks_like_date(words, after_le):
        return None
    shortest, longest = _date_span(words)
    first_error = None
    for count in range(longest, shortest - 1, -1):
        try:
            when = parse_when(" ".join(words[:count]), tz, now)
        except UserError as error:
            first_error = first_error or error
            continue
        return when.start.date(), " ".join(words[count:])
    raise when_error(first_error)


# --- announcements ---------------------------------------------------------------------------

def announcement_target(session: Session, event_id: str) -> Rencontre | None:
    """The rencontre announced by the bot message ``event_id``, if it is one."""
    announcement = session.get(Announcement, event_id)
    return session.get(Rencontre, announcement.rencontre_id) if announcement else None


def remember_announcement(session: Session, value: str, event_id: str) -> None:
    """Outbox hook: the announcement tagged ``announce:<id>`` was sent as ``event_id``."""
    session.merge(Announcement(event_id=event_id, rencontre_id=int(value)))



# --- what replies, announcements and reminders show ---------------------------------------

@dataclass(frozen=True)
class RencontreView:
    """A rencontre as shown in a room: plain data, user text still raw (templates escape)."""

    number: int
    title: str
    when_text: str              # the date shown (next one of a series), formatted in French
    recurrence_text: str        # "" when not repeated
    next_dates: tuple[str, ...]  # the following dates of a series
    mode: str
    place: str
    link: str
    objective: str
    agenda: tuple[str, ...]
    speakers: tuple[str, ...]


NEXT_DATES_SHOWN = 3


def view_of(rencontre: Rencontre, when: When | None, following: list[When] = ()) -> RencontreView:
    """``when`` is the date to show (default: the rencontre's own); ``following`` the next ones."""
    return RencontreView(
        number=rencontre.number, title=rencontre.title,
        when_text=format_when_fr(when or when_of(rencontre)) + zone_suffix(rencontre.timezone),
        recurrence_text=describe_recurrence(recurrence_of(rencontre)),
        next_dates=tuple(format_when_fr(w) for w in following),
        mode=mode_label(rencontre.mode), place=rencontre.place, link=rencontre.link,
        objective=rencontre.objective, agenda=tuple(rencontre.agenda),
        speakers=tuple(rencontre.speakers))


def current_view(session: Session, rencontre: Rencontre, now: datetime) -> RencontreView:
    """The view with the next date (and, for a series, the ones after it)."""
    nexts = next_occurrences(rencontre, cancelled_starts(session, rencontre), now,
                             1 + NEXT_DATES_SHOWN if rencontre.recurrence else 1)
    return view_of(rencontre, nexts[0] if nexts else None, nexts[1:])
