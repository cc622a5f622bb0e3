"""``!sondage``: choose a rencontre's date together, with a native Matrix poll.

``!sondage`` shows the running poll's count (everyone); ``!sondage <question>`` followed
by one candidate date per line posts the poll (animation), with a text fallback for
clients without polls; ``!sondage clore`` ends it (a poll end event) and announces the
result; ``!rencontre planifier sondage [n] [titre]`` plans at the winning date
(:func:`plan_from_poll`, called by :mod:`commands.rencontres`). Votes are the poll
responses people send from their client (:func:`on_vote`). The event shapes are
documented in :mod:`bot.domain.polls`.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from bot.domain import polls
from bot.engine.context import Context
from bot.engine.events import PollResponse
from bot.engine.registry import PermissionDenied, UsageError, command, listen, subcommand
from bot.storage.models import Poll, PollStatus
from bot.support.text import excerpt, md_line

USAGE_SHOW = "sondage"
USAGE_CREATE = "sondage <question>, puis une date par ligne"
USAGE_CLOSE = "sondage clore"
USAGE_PLAN = "rencontre planifier sondage [numéro de la date] [titre]"
# What starts like a number is one ("sondage 1234" is a typo, never a title).
NUMBER_RE = re.compile(r"^(?:n°|#)?(?P<n>\d+)(?:\s+|$)")
MAX_DIGITS = 3


def _count_text(ctx: Context, poll: Poll) -> str:
    result = polls.count(ctx.tx, poll)
    state = "en cours" if poll.status == PollStatus.OPEN else "clos"
    lines = [f"🗳️ **Sondage {state}** : {md_line(poll.question)}", ""]
    lines += polls.count_lines(poll, result)
    lines += ["", f"{result.voters} personne{'s ont' if result.voters > 1 else ' a'} voté."
              if result.voters else "Personne n'a encore voté."]
    return "\n".join(lines)


@command("sondage", aliases=("poll",), usage=f"{USAGE_SHOW} [<question>, puis une date par ligne]",
         help="le sondage de date en cours et ses votes ; (animation) avec une question et une "
              "date par ligne, publier un sondage Matrix pour choisir la date d'une rencontre")
def sondage(ctx: Context, args: str) -> None:
    if not args.strip():
        _show(ctx)
        return
    if not ctx.is_facilitator:
        raise PermissionDenied()
    _create(ctx, args)


def _show(ctx: Context) -> None:
    poll = polls.running(ctx.tx, ctx.room_id) or polls.latest(ctx.tx, ctx.room_id)
    if poll is None:
        ctx.reply("Aucun sondage dans ce salon. L'animation en publie un avec "
                  f"`{ctx.prefix}{USAGE_CREATE}`.")
        return
    ctx.reply(_count_text(ctx, poll))


def _create(ctx: Context, args: str) -> None:
    first, *lines = args.split("\n")
    current = polls.running(ctx.tx, ctx.room_id)
    prefix = ctx.prefix
    if current is not None:
        raise UsageError(f"le sondage « {md_line(excerpt(current.question))} » est encore ouvert : "
                         f"clôturez-le d'abord avec `{prefix}sondage clore`.")
    question = polls.check_question(first, ctx.tz, ctx.now)
    options = polls.parse_options(lines, ctx.tz, ctx.now)
    poll = polls.create(ctx.tx, ctx.room_id, question, options, ctx.tz, ctx.sender, ctx.now)
    ctx.reply("\n".join([
        f"🗳️ **Sondage** : {md_line(question)}", "",
        *polls.count_lines(poll, polls.Count([0] * len(options), 0)), "",
        "Votez dans le sondage qui suit (Element l'affiche avec des cases à cocher). "
        f"Les votes : `{prefix}sondage` ; pour clore : `{prefix}sondage clore`."]))
    ctx.post(polls.POLL_START, polls.start_content(poll), tag=f"{polls.POLL_TAG}:{poll.id}")


@subcommand("sondage", "clore", aliases=("close", "fermer"), usage=USAGE_CLOSE, facilitator=True,
            help="clore le sondage en cours et annoncer la date retenue")
def sondage_clore(ctx: Context, args: str) -> None:
    if args.strip():
        raise UsageError(f"je ne comprends pas « {md_line(excerpt(args))} » : tapez "
                         f"`{ctx.prefix}sondage clore` seul.")
    poll = polls.running(ctx.tx, ctx.room_id)
    if poll is None:
        raise UsageError("aucun sondage n'est ouvert dans ce salon.")
    if poll.start_event_id is None:
        raise UsageError("le sondage n'est pas encore publié dans le salon ; réessayez dans un instant.")
    polls.close(ctx.tx, poll, ctx.now)
    result = polls.count(ctx.tx, poll)
    summary = _result_sentence(ctx, poll, result)
    ctx.post(polls.POLL_END, polls.end_content(poll, summary))
    ctx.reply(_count_text(ctx, poll) + "\n\n" + md_line(summary) + _next_step(ctx, result))


def _result_sentence(ctx: Context, poll: Poll, result: polls.Count) -> str:
    """Plain text (also the end event's): the winner, a tie, or no vote."""
    tz = ZoneInfo(poll.timezone)
    if not result.winners:
        return "Le sondage est clos ; personne n'a voté."
    if len(result.winners) == 1:
        best = result.winners[0]
        return (f"Le sondage est clos. Date retenue : {polls.option_text(poll.options[best], tz)} "
                f"({result.votes[best]} voix).")
    tied = " ; ".join(f"n°{i + 1} {polls.option_text(poll.options[i], tz)}" for i in result.winners)
    return f"Le sondage est clos, avec une égalité entre {tied}."


def _next_step(ctx: Context, result: polls.Count) -> str:
    prefix = ctx.prefix
    if len(result.winners) == 1:
        return f"  \nPour planifier la rencontre : `{prefix}rencontre planifier sondage [titre]`."
    if result.winners:
        return (f"  \nÀ l'animation de choisir : `{prefix}rencontre planifier sondage "
                f"{result.winners[0] + 1} [titre]`.")
    return ""


# --- planning from the poll -------------------------------------------------------------------

def plan_from_poll(ctx: Context, rest: str) -> tuple[str, str, Poll]:
    """``!rencontre planifier sondage [n] [titre]`` → (date text, title, poll): the winning
    date of the room's latest poll, or option ``n`` (a tie, or the facilitator's choice)."""
    poll = polls.latest(ctx.tx, ctx.room_id)
    prefix = ctx.prefix
    if poll is None:
        raise UsageError("aucun sondage dans ce salon.", USAGE_PLAN)
    if poll.status == PollStatus.OPEN:
        raise UsageError(f"le sondage est encore ouvert : clôturez-le d'abord avec "
                         f"`{prefix}sondage clore`.", USAGE_PLAN)
    if poll.rencontre_id is not None:
        planned = polls.planned_rencontre(ctx.tx, poll)
        raise UsageError(f"la rencontre #{planned.number if planned else '?'} est déjà planifiée "
                         "d'après ce sondage.", USAGE_PLAN)
    match = NUMBER_RE.match(rest)
    result = polls.count(ctx.tx, poll)
    if match:
        digits = match["n"]
        chosen = int(digits) if len(digits) <= MAX_DIGITS else 0
        if not 1 <= chosen <= len(poll.options):
            raise UsageError(f"le sondage propose les dates 1 à {len(poll.options)}, pas "
                             f"{excerpt(digits)}.", USAGE_PLAN)
        index, rest = chosen - 1, rest[match.end():]
    elif len(result.winners) == 1:
        index = result.winners[0]
    elif not result.winners:
        raise UsageError("personne n'a voté : indiquez le numéro de la date retenue, par exemple "
                         f"`{prefix}rencontre planifier sondage 1`.", USAGE_PLAN)
    else:
        tied = ", ".join(str(i + 1) for i in result.winners)
        raise UsageError(f"égalité entre les dates {tied} : choisissez, par exemple "
                         f"`{prefix}rencontre planifier sondage {result.winners[0] + 1}`.", USAGE_PLAN)
    # Read in the room's zone (it may have changed since): the instant is the one voted for.
    return polls.date_text(poll.options[index], ctx.tz), rest.strip(), poll


# --- votes ------------------------------------------------------------------------------------

@listen("poll_response")
def on_vote(ctx: Context, response: PollResponse) -> None:
    """A vote sent from a client: kept (silently) if it answers one of this room's polls
    before its end; the latest per person counts."""
    poll = polls.by_start_event(ctx.tx, response.poll_event_id)
    if poll is None or poll.room_id != ctx.room_id:
        return
    polls.record_vote(ctx.tx, poll, response.event_id, response.sender, response.answers,
                      response.timestamp)
