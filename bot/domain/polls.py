"""Date polls: native Matrix polls (MSC3381) whose answers are candidate dates.

What current Element sends and renders, read in matrix-js-sdk (what element-web builds
its polls with):

- ``src/@types/polls.ts``: ``M_POLL_START``, ``M_POLL_RESPONSE``, ``M_POLL_END`` and
  the kinds are ``UnstableValue``s, whose ``.name`` is the *unstable* identifier
  (``src/NamespacedValue.ts``); clients read both. So Element sends the event type
  ``org.matrix.msc3381.poll.start`` with the content under the same key, the kind
  ``org.matrix.msc3381.poll.disclosed`` (results shown while voting), and texts under
  ``org.matrix.msc1767.text`` (``M_TEXT``).
- ``src/extensible_events_v1/PollStartEvent.ts``: ``question``, ``kind``,
  ``max_selections`` (default 1), ``answers`` ``[{id, org.matrix.msc1767.text}]`` (ids
  unique, at most 20 answers read), and a text fallback "question\\n1. answer…".
- ``PollResponseEvent.ts``: ``{"m.relates_to": {"rel_type": "m.reference", "event_id":
  <start>}, "org.matrix.msc3381.poll.response": {"answers": [id]}}``; an empty or
  invalid answer list is a spoiled vote.
- ``src/models/poll.ts``: the end event (``PollEndEvent``: an ``m.reference`` with an
  empty ``org.matrix.msc3381.poll.end`` block and a text) counts when sent by the poll's
  creator; "votes sent on or before the end event's timestamp are valid votes".
  element-web counts each person's latest response; a spoiled latest one counts nothing.

The bot's count follows the same rules, so ``!sondage`` agrees with what Element shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain.dates import When, format_when_fr, parse_when
from bot.domain.zones import zone_suffix
from bot.storage.models import Poll, PollStatus, PollVote, Rencontre
from bot.support.errors import UserError
from bot.support.text import excerpt

POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
TEXT = "org.matrix.msc1767.text"
KIND_DISCLOSED = "org.matrix.msc3381.poll.disclosed"
POLL_TAG = "poll"             # outbox tag "poll:<id>": the start event's id is learnt when sent
MIN_OPTIONS = 2
MAX_OPTIONS = 20              # matrix-js-sdk reads at most 20 answers
MAX_QUESTION = 300


# --- options --------------------------------------------------------------------------------

def option_when(option: dict, tz: ZoneInfo) -> When:
    end = datetime.fromisoformat(option["end"]).astimezone(tz) if option.get("end") else None
    return When(datetime.fromisoformat(option["start"]).astimezone(tz), end, bool(option.get("all_day")))


def option_text(option: dict, tz: ZoneInfo) -> str:
    """ "mercredi 9 juin 2027, 14h–17h", with the zone when it is not Paris."""
    return format_when_fr(option_when(option, tz)) + zone_suffix(tz.key)


def date_text(option: dict, tz: ZoneInfo) -> str:
    """The option as ``!rencontre planifier`` reads it: "2027-06-09 14:00-17:00"."""
    when = option_when(option, tz)
    day = when.start.date().isoformat()
    if when.all_day:
        return day
    end = f"-{when.end.strftime('%H:%M')}" if when.end is not None else ""
    return f"{day} {when.start.strftime('%H:%M')}{end}"


def parse_options(lines: list[str], tz: ZoneInfo, now: datetime) -> list[dict]:
    """One candidate date per line, as ``!rencontre planifier`` reads them; refused: a past
    or unreadable date (named by its line), a date given twice, fewer than 2 or more than 20."""
    options: list[dict] = []
    seen: set[tuple] = set()
    texts = [line.strip().lstrip("-•*").strip() for line in lines if line.strip()]
    if len(texts) > MAX_OPTIONS:
        raise UserError(f"au plus {MAX_OPTIONS} dates par sondage ({len(texts)} données).")
    for number, text in enumerate(texts, start=1):
        try:
            when = parse_when(text, tz, now)
        except UserError as error:
            raise UserError(f"date n°{number} « {excerpt(text)} » : {error.message}") from None
        key = (when.start, when.end, when.all_day)
        if key in seen:
            raise UserError(f"la date n°{number} « {excerpt(text)} » est déjà proposée.")
        seen.add(key)
        options.append({"id": f"date-{number}", "start": when.start.isoformat(),
                        "end": when.end.isoformat() if when.end else None, "all_day": when.all_day})
    if len(options) < MIN_OPTIONS:
        raise UserError("il faut au moins deux dates, une par ligne sous la question.")
    return options


def check_question(text: str, tz: ZoneInfo, now: datetime) -> str:
    question = " ".join(text.split())
    if not question or _is_date(question, tz, now):
        raise UserError("il manque la question, sur la première ligne (les dates suivent, une "
                        "par ligne).")
    if len(question) > MAX_QUESTION:
        raise UserError(f"la question est trop longue ({len(question)} caractères ; "
                        f"{MAX_QUESTION} au plus).")
    return question


def _is_date(text: str, tz: ZoneInfo, now: datetime) -> bool:
    try:
        parse_when(text, tz, now)
    except UserError:
        return False
    return True


# --- events ---------------------------------------------------------------------------------

def fallback_text(question: str, answers: list[str]) -> str:
    """PollStartEvent's own fallback: the question, then "1. answer" lines."""
    return "\n".join([question, *(f"{i}. {a}" for i, a in enumerate(answers, start=1))])


def start_content(poll: Poll) -> dict:
    """The ``org.matrix.msc3381.poll.start`` content Element renders as a poll."""
    tz = ZoneInfo(poll.timezone)
    answers = [option_text(o, tz) for o in poll.options]
    return {
        POLL_START: {
            "question": {TEXT: poll.question},
            "kind": KIND_DISCLOSED,
            "max_selections": 1,
            "answers": [{"id": o["id"], TEXT: text} for o, text in zip(poll.options, answers)],
        },
        TEXT: fallback_text(poll.question, answers),
        "body": fallback_text(poll.question, answers),   # for clients that show any body
    }


def end_content(poll: Poll, result: str) -> dict:
    """The end event: a reference to the start, the empty end block, a text."""
    return {"m.relates_to": {"rel_type": "m.reference", "event_id": poll.start_event_id},
            POLL_END: {}, TEXT: result, "body": result}


def remember_start(session: Session, value: str, event_id: str) -> None:
    """Outbox hook: the poll tagged ``poll:<id>`` was sent as ``event_id``."""
    poll = session.get(Poll, int(value))
    if poll is not None:
        poll.start_event_id = event_id
        session.add(poll)



# --- polls of a room, votes -------------------------------------------------------------------

def create(session: Session, room_id: str, question: str, options: list[dict], tz: ZoneInfo,
           created_by: str, now: datetime) -> Poll:
    """A new open poll (its start event is posted by the command; :func:`remember_start`
    learns its id)."""
    poll = Poll(room_id=room_id, question=question, timezone=tz.key, options=options,
                created_by=created_by, created_at=now)
    session.add(poll)
    session.flush()
    return poll


def close(session: Session, poll: Poll, now: datetime) -> None:
    """End the poll: later votes no longer count."""
    poll.status, poll.closed_at = PollStatus.CLOSED, now
    session.add(poll)
    session.flush()


def link_rencontre(session: Session, poll: Poll, rencontre: Rencontre) -> None:
    """The rencontre planned at the poll's date (a poll plans one rencontre only)."""
    poll.rencontre_id = rencontre.id
    session.add(poll)


def planned_rencontre(session: Session, poll: Poll) -> Rencontre | None:
    """The rencontre already planned from this poll, if any."""
    return session.get(Rencontre, poll.rencontre_id) if poll.rencontre_id is not None else None


def latest(session: Session, room_id: str) -> Poll | None:
    return session.exec(select(Poll).where(Poll.room_id == room_id)
                        .order_by(col(Poll.id).desc())).first()


def running(session: Session, room_id: str) -> Poll | None:
    return session.exec(select(Poll).where(Poll.room_id == room_id, Poll.status == PollStatus.OPEN)
                        .order_by(col(Poll.id).desc())).first()


def by_start_event(session: Session, event_id: str) -> Poll | None:
    return session.exec(select(Poll).where(Poll.start_event_id == event_id)).first()


def record_vote(session: Session, poll: Poll, event_id: str, sender: str,
                answers: tuple[str, ...] | None, sent_at: datetime) -> bool:
    """Keep a response sent before the poll ended (False otherwise). Answers not in the
    poll spoil the vote, like an empty one: it then withdraws the person's vote."""
    if poll.closed_at is not None and sent_at > poll.closed_at:
        return False
    ids = {o["id"] for o in poll.options}
    chosen = list(answers[:1]) if answers and all(a in ids for a in answers) else []
    session.merge(PollVote(event_id=event_id, poll_event_id=poll.start_event_id, sender=sender,
                           answers=chosen, sent_at=sent_at))
    session.flush()
    return True


@dataclass(frozen=True)
class Count:
    votes: list[int]        # per option, in order
    voters: int

    @property
    def winners(self) -> list[int]:
        """Indexes of the options with the most votes (none when nobody voted)."""
        best = max(self.votes, default=0)
        return [i for i, v in enumerate(self.votes) if v == best] if best else []


def count(session: Session, poll: Poll) -> Count:
    """Each person's latest response (server time, then event id) counts; spoiled = none."""
    votes = [0] * len(poll.options)
    if poll.start_event_id is None:
        return Count(votes, 0)
    rows = session.exec(select(PollVote).where(PollVote.poll_event_id == poll.start_event_id)
                        .order_by(col(PollVote.sent_at), col(PollVote.event_id))).all()
    latest_by: dict[str, PollVote] = {}
    for row in rows:
        if poll.closed_at is None or row.sent_at <= poll.closed_at:
            latest_by[row.sender] = row
    index = {o["id"]: i for i, o in enumerate(poll.options)}
    voters = 0
    for row in latest_by.values():
        if row.answers:
            votes[index[row.answers[0]]] += 1
            voters += 1
    return Count(votes, voters)


def count_lines(poll: Poll, result: Count) -> list[str]:
    tz = ZoneInfo(poll.timezone)
    lines = []
    for i, option in enumerate(poll.options):
        mark = " ⭐" if i in result.winners else ""
        lines.append(f"- **{i + 1}.** {option_text(option, tz)} — **{result.votes[i]} voix**{mark}")
    return lines
