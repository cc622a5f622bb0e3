"""Rencontres as iCalendar events: the invites (room, DM, e-mail) and the room's feed.

This module decides what a rencontre looks like in a calendar; ``bot.calendar.ics`` writes
the bytes (escaping, folding, VTIMEZONE). The blocking functions take a Session
and are called inside a command's transaction or through ``host.in_worker``.

Privacy: subscribers' e-mail addresses never appear in a file that others see.
Attendees are written as ``https://matrix.to/#/<user id>``; only the copy e-mailed
to a subscriber names that subscriber by ``mailto:`` (so their mail client knows
the invitation is for them). The feed carries no attendees at all.

Delivering them (:func:`deliver`, :func:`send_upcoming`) takes the event's Context: the
room copy and the direct messages are recorded there, the e-mails queued in its
transaction (``bot.calendar.mailer`` sends them later).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlmodel import Session, col, select

from bot.calendar import mailer
from bot.calendar.ics import Attendee, CalendarEvent, build_calendar, ics_filename
from bot.domain.dates import When, format_when_fr
from bot.domain.people import load_profile, person_name
from bot.domain.reminders import room_offsets
from bot.domain.rencontres import (
    cancelled_starts,
    describe_recurrence,
    mode_label,
    next_occurrences,
    recurrence_of,
    upcoming,
    when_of,
)
from bot.domain.room_settings import network_name
from bot.domain.zones import zone_suffix
from bot.engine.context import Context
from bot.storage.models import (
    CalendarFeed,
    Registration,
    Rencontre,
    RencontreStatus,
    RsvpStatus,
    Subscriber,
)
from bot.support.config import Config
from bot.support.templating import render
from bot.support.text import md_line, md_link, safe_url

ICS_MIMETYPE = "text/calendar"
FEED_HISTORY = timedelta(days=183)      # the feed lists rencontres from 6 months back
FEED_TOKEN_BYTES = 24                   # 192 bits, URL-safe (32 characters)
PARTSTAT = {RsvpStatus.REGISTERED: "ACCEPTED", RsvpStatus.EXCUSED: "DECLINED"}


# --------------------------------------------------------------------------- reading a rencontre


def title_of(rencontre: Rencontre) -> str:
    return rencontre.title.strip() or f"Rencontre n°{rencontre.number}"


def when_text(rencontre: Rencontre) -> str:
    """ "jeudi 9 juin 2022, 14h–17h", with the repetition of a repeated rencontre."""
    repeated = describe_recurrence(recurrence_of(rencontre))
    return (format_when_fr(when_of(rencontre)) + zone_suffix(rencontre.timezone)
            + (f", puis {repeated}" if repeated else ""))


# --------------------------------------------------------------------------- event contents


def organizer(config: Config, bot_user_id: str) -> tuple[str, str]:
    """(CN, address): the bot, by the e-mail sender address if e-mail is configured."""
    address = parseaddr(config.email.sender)[1] if config.email else ""
    uri = f"mailto:{address}" if "@" in address else matrix_to(bot_user_id)
    return config.bot.network_name, uri


def _lines(values: list[str]) -> list[str]:
    return [f"- {text}" for text in values if text.strip()]


def description(rencontre: Rencontre, prefix: str, room_id: str) -> str:
    """The French DESCRIPTION: objective, agenda, speakers, place, how to register."""
    lines: list[str] = []
    if rencontre.status == RencontreStatus.CANCELLED:
        reason = f" Motif : {rencontre.cancel_reason}" if rencontre.cancel_reason.strip() else ""
        lines += [f"RENCONTRE ANNULÉE.{reason}", ""]
    if rencontre.objective.strip():
        lines.append(f"Objectif : {rencontre.objective.strip()}")
    if agenda := _lines(rencontre.agenda):
        lines += ["Ordre du jour :", *agenda]
    if speakers := _lines(rencontre.speakers):
        lines += ["Intervenant·e·s :", *speakers]
    lines.append(f"Modalité : {mode_label(rencontre.mode)}")
    if rencontre.place.strip():
        lines.append(f"Lieu : {rencontre.place.strip()}")
    if rencontre.link.strip():
        lines.append(f"Lien : {rencontre.link.strip()}")
    if rencontre.status != RencontreStatus.CANCELLED:
        n = rencontre.number
        lines += ["",
                  f"Inscription : tapez « {prefix}inscription {n} » dans le salon.",
                  f"Empêché·e ? Tapez « {prefix}excuse {n} [motif] ».",
                  f"Salon : {matrix_to(room_id)}"]
    return "\n".join(lines)


def subscribers(session: Session, room_id: str) -> list[Subscriber]:
    query = select(Subscriber).where(Subscriber.room_id == room_id).order_by(col(Subscriber.user_id))
    return list(session.exec(query))


def subscription(session: Session, room_id: str, user_id: str) -> Subscriber | None:
    """The person's subscription to the room's invitations, if any."""
    return session.get(Subscriber, (room_id, user_id))


def subscribe(session: Session, room_id: str, user_id: str, email: str,
              now: datetime) -> Subscriber:
    """Subscribe the person (or change the address of their subscription; "" for none)."""
    subscriber = subscription(session, room_id, user_id) or Subscriber(
        room_id=room_id, user_id=user_id, created_at=now)
    subscriber.email = email
    session.add(subscriber)
    session.flush()
    return subscriber


def unsubscribe(session: Session, subscriber: Subscriber) -> None:
    """End the subscription; the e-mails about the room's rencontres not sent yet are dropped."""
    if subscriber.email:
        rencontres = session.exec(select(Rencontre).where(Rencontre.room_id == subscriber.room_id))
        mailer.drop_pending(session, subscriber.email, [email_key_prefix(r) for r in rencontres])
    session.delete(subscriber)
    session.flush()


def attendees(session: Session, rencontre: Rencontre,
              display_name: Callable[[str], str]) -> tuple[Attendee, ...]:
    """One ATTENDEE per person who answered (PARTSTAT from the RSVP) or subscribed
    (NEEDS-ACTION until they answer), by Matrix id, in a stable order."""
    answers = {r.user_id: r.status for r in session.exec(
        select(Registration).where(Registration.rencontre_id == rencontre.id))}
    people = sorted(set(answers) | {sub.user_id for sub in subscribers(session, rencontre.room_id)})
    return tuple(
        Attendee(person_name(load_profile(session, user), display_name(user)), matrix_to(user),
                 PARTSTAT.get(answers.get(user), "NEEDS-ACTION"))
        for user in people)


def addressed_to(event: CalendarEvent, subscriber: Subscriber) -> CalendarEvent:
    """The copy e-mailed to ``subscriber``: they, and only they, appear by ``mailto:``
    (how Thunderbird, Outlook and Gmail recognise an invitation as the reader's own)."""
    mine = matrix_to(subscriber.user_id)
    return replace(event, attendees=tuple(
        replace(a, address=f"mailto:{subscriber.email}") if a.address == mine else a
        for a in event.attendees))


def to_event(session: Session, config: Config, rencontre: Rencontre, *, bot_user_id: str,
             attendee_list: tuple[Attendee, ...] = ()) -> CalendarEvent:
    """The rencontre as a CalendarEvent (UID and SEQUENCE are the rencontre's own)."""
    rec = recurrence_of(rencontre)
    when = when_of(rencontre)
    cn, address = organizer(config, bot_user_id)
    cn = network_name(session, config, rencontre.room_id)   # the room's network, by default config's
    return CalendarEvent(
        uid=rencontre.uid, sequence=rencontre.sequence, summary=title_of(rencontre),
        description=description(rencontre, config.bot.command_prefix, rencontre.room_id),
        start=when.start, end=when.end, all_day=rencontre.all_day, tzid=rencontre.timezone,
        location=rencontre.place.strip(), url=safe_url(rencontre.link),
        organizer_name=cn, organizer_address=address, attendees=attendee_list,
        alarms=room_offsets(session, config, rencontre.room_id),
        rrule=rec.rrule_dict() if rec else None,
        exdates=tuple(sorted(cancelled_starts(session, rencontre))) if rec else (),
        cancelled=rencontre.status == RencontreStatus.CANCELLED,
        created=rencontre.created_at, last_modified=rencontre.updated_at)


def invite(event: CalendarEvent, method: str, now: datetime) -> bytes:
    """A one-event iTIP object: PUBLISH (room), REQUEST or CANCEL (DM, e-mail)."""
    return build_calendar([event], method=method, dtstamp=now)


def filename(rencontre: Rencontre) -> str:
    return ics_filename(title_of(rencontre), when_of(rencontre).start)


# --------------------------------------------------------------------------- the feed


@dataclass(frozen=True)
class Feed:
    body: bytes
    last_modified: datetime


def _still_relevant(session: Session, rencontre: Rencontre, since: datetime) -> bool:
    if rencontre.start_at >= since:
        return True
    return recurrence_of(rencontre) is not None and bool(
        next_occurrences(rencontre, cancelled_starts(session, rencontre), since, 1))


def feed_rencontres(session: Session, room_id: str, now: datetime) -> list[Rencontre]:
    """The room's rencontres from six months back onward (repeated ones while they recur)."""
    since = now - FEED_HISTORY
    query = (select(Rencontre).where(Rencontre.room_id == room_id)
             .order_by(col(Rencontre.start_at), col(Rencontre.number)))
    return [r for r in session.exec(query) if _still_relevant(session, r, since)]


def build_feed(session: Session, config: Config, feed: CalendarFeed, bot_user_id: str,
               now: datetime) -> Feed:
    """The room's calendar (no METHOD). DTSTAMP is the last change, not the request time,
    so the body — and its ETag — only change when a rencontre does."""
    rencontres = feed_rencontres(session, feed.room_id, now)
    stamp = max([r.updated_at for r in rencontres] + [feed.created_at])
    events = [to_event(session, config, r, bot_user_id=bot_user_id) for r in rencontres]
    body = build_calendar(events, method=None, dtstamp=stamp, calname=network_name(session, config, feed.room_id))
    return Feed(body, stamp)


def feed_for_token(session: Session, config: Config, token: str, bot_user_id: str,
                   now: datetime) -> Feed | None:
    found = find_feed(session, token)
    return build_feed(session, config, found, bot_user_id, now) if found else None


def find_feed(session: Session, token: str) -> CalendarFeed | None:
    """The feed row for ``token``; the lookup is on the unique token itself, so no
    comparison of secrets happens in Python."""
    if not token or len(token) > 128:
        return None
    return session.exec(select(CalendarFeed).where(CalendarFeed.token == token)).first()


def feed_token(session: Session, room_id: str, now: datetime) -> str:
    """The room's feed token, created on first need."""
    found = session.get(CalendarFeed, room_id)
    if found is None:
        found = CalendarFeed(room_id=room_id, token=secrets.token_urlsafe(FEED_TOKEN_BYTES),
                             created_at=now)
        session.add(found)
        session.flush()
    return found.token


def new_feed_token(session: Session, room_id: str, now: datetime) -> str:
    """Replace the room's token: the old feed (and archive) URLs stop working at once."""
    found = session.get(CalendarFeed, room_id)
    if found is None:
        return feed_token(session, room_id, now)
    found.token, found.created_at = secrets.token_urlsafe(FEED_TOKEN_BYTES), now
    session.flush()
    return found.token


def feed_url(config: Config, token: str) -> str:
    return f"{config.http.public_url}/calendar/{token}.ics"


def webcal_url(config: Config, token: str) -> str:
    """The same feed with the ``webcal://`` scheme, which opens the calendar app."""
    return "webcal://" + feed_url(config, token).split("://", 1)[1]


def minutes_url(config: Config, token: str) -> str:
    """The room's minutes archive (same secret as the feed)."""
    return f"{config.http.public_url}/minutes/{token}/"


# --------------------------------------------------------------------------- invitations


def email_key_prefix(rencontre: Rencontre) -> str:
    return f"{rencontre.uid}|"


def email_key(rencontre: Rencontre, method: str, recipient: str) -> str:
    """One e-mail per version of a rencontre and recipient (re-subscribing sends no copy)."""
    return f"{email_key_prefix(rencontre)}{rencontre.sequence}|{method}|{recipient}"


def matrix_to(matrix_id: str) -> str:
    """A link to a user or room that every Matrix client opens (and a valid URI)."""
    return f"https://matrix.to/#/{matrix_id}"


# --------------------------------------------------------------------------- delivering them

# change → (short label for subjects and DMs, headline of the e-mail)
CHANGES = {
    "created": ("Invitation", "Vous êtes invité·e à une rencontre du réseau."),
    "modified": ("Rencontre modifiée",
                 "Cette rencontre a été modifiée : voici les informations à jour."),
    "cancelled": ("Rencontre annulée", "Cette rencontre est annulée."),
    "occurrence_cancelled": ("Date annulée",
                             "La date du {day} est annulée ; les autres dates sont maintenues."),
}


@dataclass(frozen=True)
class Invitation:
    """One change of a rencontre, ready to deliver (the event carries every attendee)."""

    rencontre: Rencontre
    event: CalendarEvent
    method: str          # REQUEST or CANCEL (the room copy is always PUBLISH)
    label: str
    headline: str

    @property
    def when(self) -> str:
        return when_text(self.rencontre)


def deliver(ctx: Context, rencontre: Rencontre, change: str,
            occurrence_start: datetime | None = None) -> None:
    """The ``.ics`` of a rencontre just planned, changed or cancelled (``change``, a key of
    ``CHANGES``): in the room (METHOD:PUBLISH), then by direct message to each subscriber
    still in the room and, when they gave an address and ``[email]`` is configured, queued
    for e-mail (METHOD:REQUEST, or CANCEL for a cancelled rencontre). All in ``ctx``'s
    transaction: nothing here waits for the network (the outbox and the mailer send later)."""
    invitation = _invitation(ctx, rencontre, change, occurrence_start)
    ctx.upload(filename(rencontre), invite(invitation.event, "PUBLISH", ctx.now), ICS_MIMETYPE)
    recipients = _recipients(ctx)
    direct = invite(invitation.event, invitation.method, ctx.now) if recipients else b""
    for subscriber in recipients:
        _send_dm(ctx, invitation, subscriber.user_id, direct)
        _queue_email(ctx, invitation, subscriber)


def send_upcoming(ctx: Context, subscriber: Subscriber, by_dm: bool) -> int:
    """A new subscriber gets the rencontres already planned (e-mails are never sent twice);
    returns how many were sent."""
    sent = 0
    for rencontre, _when in upcoming(ctx.session, ctx.room_id, ctx.now):
        invitation = _invitation(ctx, rencontre, "created")
        if by_dm:
            _send_dm(ctx, invitation, subscriber.user_id,
                     invite(invitation.event, invitation.method, ctx.now))
        emailed = _queue_email(ctx, invitation, subscriber)
        sent += by_dm or emailed
    return sent


def _invitation(ctx: Context, rencontre: Rencontre, change: str,
                occurrence_start: datetime | None = None) -> Invitation:
    people = attendees(ctx.session, rencontre, ctx.room.display_name)
    event = to_event(ctx.session, ctx.config, rencontre, bot_user_id=ctx.bot_user_id,
                     attendee_list=people)
    label, headline = CHANGES[change]
    if occurrence_start is not None:
        day = When(occurrence_start.astimezone(when_of(rencontre).start.tzinfo), None,
                   rencontre.all_day)
        headline = headline.format(day=format_when_fr(day))
    cancelled = rencontre.status == RencontreStatus.CANCELLED
    return Invitation(rencontre, event, "CANCEL" if cancelled else "REQUEST", label, headline)


def _recipients(ctx: Context) -> list[Subscriber]:
    """Subscribers still in the room: someone who left gets no more invitations."""
    return [s for s in subscribers(ctx.session, ctx.room_id) if s.user_id in ctx.room.joined]


def _send_dm(ctx: Context, invitation: Invitation, user_id: str, data: bytes) -> None:
    title = md_line(title_of(invitation.rencontre))
    effect = ("la retire de" if invitation.method == "CANCEL"
              else "ajoute ou met à jour la rencontre dans")
    room_link = md_link("salon du réseau", matrix_to(ctx.room_id))
    unsubscribe = f"`{ctx.prefix}desabonner`"
    ctx.dm(user_id, "  \n".join([
        f"📅 **{invitation.label}** : {title} — {md_line(invitation.when)}",
        md_line(invitation.headline),
        f"Le fichier joint (.ics) {effect} votre agenda.",
        f"Pour ne plus recevoir ces invitations : {unsubscribe} dans le {room_link}."]))
    ctx.upload(filename(invitation.rencontre), data, ICS_MIMETYPE, dm_user=user_id)


def _queue_email(ctx: Context, invitation: Invitation, subscriber: Subscriber) -> bool:
    """Queue the e-mailed copy (in this transaction); False if none is due."""
    if not subscriber.email or ctx.config.email is None:
        return False
    rencontre, method = invitation.rencontre, invitation.method
    title = title_of(rencontre)
    text = render("invitation.txt.j2", ctx.config.minutes.templates_dir,
                  headline=invitation.headline, title=title, when=invitation.when,
                  details=invitation.event.description, cancelled=method == "CANCEL",
                  network=network_name(ctx.session, ctx.config, ctx.room_id),
                  unsubscribe=f"{ctx.prefix}desabonner",
                  room_url=matrix_to(ctx.room_id))
    ics = invite(addressed_to(invitation.event, subscriber), method, ctx.now)
    return mailer.queue(ctx.session, dedup_key=email_key(rencontre, method, subscriber.email),
                        recipient=subscriber.email, subject=f"{invitation.label} : {title} — "
                        f"{invitation.when}", text=text, ics=ics, method=method, now=ctx.now)
