"""``!abonner``, ``!desabonner``, ``!agenda``: calendar invitations and the room's feed.

This module also delivers the invitations. The rencontres commands send
``bot.support.signals.rencontre_changed`` after their announcement; in the same transaction
the ``.ics`` is then posted in the room (METHOD:PUBLISH), sent by direct message to
each subscriber still in the room and, when they gave an address and ``[email]`` is
configured, queued for e-mail (METHOD:REQUEST, or CANCEL for a cancelled rencontre).
Nothing here waits for the network: the outbox and ``bot.calendar.mailer`` send later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.calendar import invites as calendar
from bot.calendar import mailer
from bot.calendar.ics import CalendarEvent
from bot.domain.dates import When, format_when_fr
from bot.domain.rencontres import mode_label, upcoming, when_of
from bot.domain.room_settings import network_name
from bot.engine.context import Context
from bot.engine.registry import UsageError, command, receives, refuse_arguments, subcommand
from bot.storage.models import Rencontre, RencontreStatus, Subscriber
from bot.support.signals import rencontre_changed
from bot.support.templating import render
from bot.support.text import excerpt, md_code, md_line, md_link

AGENDA_SHOWN = 5
USAGE_SUBSCRIBE = "abonner [e-mail]"
USAGE_AGENDA = ("agenda", "agenda nouveau-lien")

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
        return calendar.when_text(self.rencontre)


def _invitation(ctx: Context, rencontre: Rencontre, change: str,
                occurrence_start: datetime | None = None) -> Invitation:
    people = calendar.attendees(ctx.tx, rencontre, ctx.room.display_name)
    event = calendar.to_event(ctx.tx, ctx.config, rencontre, bot_user_id=ctx.bot_user_id,
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
    return [s for s in calendar.subscribers(ctx.tx, ctx.room_id) if s.user_id in ctx.room.joined]


def _send_dm(ctx: Context, invitation: Invitation, user_id: str, data: bytes) -> None:
    title = md_line(calendar.title_of(invitation.rencontre))
    effect = "la retire de" if invitation.method == "CANCEL" else "ajoute ou met à jour la rencontre dans"
    room_link = md_link("salon du réseau", calendar.matrix_to(ctx.room_id))
    unsubscribe = f"`{ctx.prefix}desabonner`"
    ctx.dm(user_id, "  \n".join([
        f"📅 **{invitation.label}** : {title} — {md_line(invitation.when)}",
        md_line(invitation.headline),
        f"Le fichier joint (.ics) {effect} votre agenda.",
        f"Pour ne plus recevoir ces invitations : {unsubscribe} dans le {room_link}."]))
    ctx.upload(calendar.filename(invitation.rencontre), data, calendar.ICS_MIMETYPE, dm_user=user_id)


def _queue_email(ctx: Context, invitation: Invitation, subscriber: Subscriber) -> bool:
    """Queue the e-mailed copy (in this transaction); False if none is due."""
    if not subscriber.email or ctx.config.email is None:
        return False
    rencontre, method = invitation.rencontre, invitation.method
    title = calendar.title_of(rencontre)
    text = render("invitation.txt.j2", ctx.config.minutes.templates_dir,
                  headline=invitation.headline, title=title, when=invitation.when,
                  details=invitation.event.description, cancelled=method == "CANCEL",
                  network=network_name(ctx.tx, ctx.config, ctx.room_id),
                  unsubscribe=f"{ctx.prefix}desabonner",
                  room_url=calendar.matrix_to(ctx.room_id))
    ics = calendar.invite(calendar.addressed_to(invitation.event, subscriber), method, ctx.now)
    return mailer.queue(ctx.tx, dedup_key=calendar.email_key(rencontre, method, subscriber.email),
                        recipient=subscriber.email, subject=f"{invitation.label} : {title} — "
                        f"{invitation.when}", text=text, ics=ics, method=method, now=ctx.now)


@receives(rencontre_changed)
def deliver(ctx: Context, rencontre: Rencontre, change: str,
            occurrence_start: datetime | None = None) -> None:
    """The ``.ics`` in the room (PUBLISH), then to each subscriber (REQUEST or CANCEL)."""
    invitation = _invitation(ctx, rencontre, change, occurrence_start)
    ctx.upload(calendar.filename(rencontre), calendar.invite(invitation.event, "PUBLISH", ctx.now),
               calendar.ICS_MIMETYPE)
    recipients = _recipients(ctx)
    direct = calendar.invite(invitation.event, invitation.method, ctx.now) if recipients else b""
    for subscriber in recipients:
        _send_dm(ctx, invitation, subscriber.user_id, direct)
        _queue_email(ctx, invitation, subscriber)


# --------------------------------------------------------------------------- !abonner


def _address(args: str) -> str:
    """The e-mail address given (checked strictly), or ""."""
    if not args:
        return ""
    try:
        return mailer.check_address(args)
    except mailer.InvalidAddress as error:
        raise UsageError(md_line(error.message), USAGE_SUBSCRIBE) from None


def _send_upcoming(ctx: Context, subscriber: Subscriber, by_dm: bool) -> int:
    """A new subscriber gets the rencontres already planned (e-mails are never sent twice)."""
    sent = 0
    for rencontre, _when in upcoming(ctx.tx, ctx.room_id, ctx.now):
        invitation = _invitation(ctx, rencontre, "created")
        if by_dm:
            _send_dm(ctx, invitation, subscriber.user_id,
                     calendar.invite(invitation.event, invitation.method, ctx.now))
        emailed = _queue_email(ctx, invitation, subscriber)
        sent += by_dm or emailed
    return sent


@command("abonner", aliases=("subscribe",), usage=USAGE_SUBSCRIBE,
         help="recevoir les invitations aux rencontres (.ics) en message direct, "
              "et par e-mail si vous donnez une adresse")
def abonner(ctx: Context, args: str) -> None:
    email = _address(args)
    notes = []
    if email and ctx.config.email is None:
        email = ""
        notes.append("L'envoi par e-mail n'est pas activé sur ce bot : votre adresse n'a pas "
                     "été enregistrée, vous recevrez les invitations en message direct.")
    existing = calendar.subscription(ctx.tx, ctx.room_id, ctx.sender)
    if existing is not None and existing.email and not email:
        notes.append("Votre adresse e-mail précédente n'est plus utilisée.")
    subscriber = calendar.subscribe(ctx.tx, ctx.room_id, ctx.sender, email, ctx.now)
    sent = _send_upcoming(ctx, subscriber, by_dm=existing is None)
    channels = "en message direct" + (f" et par e-mail à {md_code(email)}" if email else "")
    lines = [f"📅 C'est noté : vous recevrez les invitations aux rencontres de ce salon {channels}."]
    if sent:
        lines.append(f"Les rencontres déjà prévues vous sont envoyées ({sent}).")
    lines += notes
    lines.append(f"Pour arrêter : `{ctx.prefix}desabonner`.")
    ctx.reply("  \n".join(lines))


@command("desabonner", aliases=("unsubscribe",), usage="desabonner",
         help="ne plus recevoir les invitations aux rencontres")
def desabonner(ctx: Context, args: str) -> None:
    refuse_arguments(args)
    existing = calendar.subscription(ctx.tx, ctx.room_id, ctx.sender)
    prefix = ctx.prefix
    if existing is None:
        raise UsageError("vous n'êtes pas abonné·e aux invitations de ce salon : rien à arrêter. "
                         f"Pour vous abonner : `{prefix}{USAGE_SUBSCRIBE}`.")
    calendar.unsubscribe(ctx.tx, existing)
    ctx.reply("C'est noté : vous ne recevrez plus les invitations de ce salon "
              f"(pour vous réabonner : `{prefix}{USAGE_SUBSCRIBE}`).")


# --------------------------------------------------------------------------- !agenda


def _paragraphs(*blocks: list[str]) -> str:
    """Markdown: lines of a block joined by hard breaks, blocks by blank lines."""
    return "\n\n".join("  \n".join(block) for block in blocks if block)


def _feed_lines(ctx: Context, token: str) -> list[str]:
    feed = calendar.feed_url(ctx.config, token)
    minutes = calendar.minutes_url(ctx.config, token)
    return [(f"Lien de l'agenda, à ajouter à votre application d'agenda (mis à jour "
            f"automatiquement) : {md_link(feed, feed)}"),
            ("Ou, pour l'ouvrir directement dans l'application : "
            f"{md_code(calendar.webcal_url(ctx.config, token))}"),
            f"Comptes rendus publiés : {md_link(minutes, minutes)}"]


def _upcoming_lines(ctx: Context) -> list[str]:
    coming = upcoming(ctx.tx, ctx.room_id, ctx.now)[:AGENDA_SHOWN]
    return [f"- **#{rencontre.number}** {md_line(format_when_fr(when))} — "
            f"{md_line(calendar.title_of(rencontre))} ({mode_label(rencontre.mode)})"
            for rencontre, when in coming]


@command("agenda", aliases=("calendar",), usage=USAGE_AGENDA[0],
         help="le lien de l'agenda du salon (pour votre application d'agenda) et les prochaines "
              "rencontres")
def agenda(ctx: Context, args: str) -> None:
    prefix = ctx.prefix
    if args:
        raise UsageError(f"je ne comprends pas « {md_line(excerpt(args))} » après `{prefix}agenda`.",
                         USAGE_AGENDA)
    token = calendar.feed_token(ctx.tx, ctx.room_id, ctx.now)
    coming = _upcoming_lines(ctx)
    ctx.reply(_paragraphs(
        ["📅 **Agenda du salon**", *_feed_lines(ctx, token)],
        ["**Prochaines rencontres :**" if coming else "Aucune rencontre prévue pour l'instant."],
        coming,
        [("Pour recevoir les invitations en message direct (ou par e-mail) : "
         f"`{prefix}{USAGE_SUBSCRIBE}`.")]))


@subcommand("agenda", "nouveau-lien", aliases=("new-link",), usage=USAGE_AGENDA[1],
            help="remplacer le lien secret de l'agenda et des comptes rendus "
                 "(l'ancien cesse de fonctionner)", facilitator=True)
def agenda_nouveau_lien(ctx: Context, args: str) -> None:
    refuse_arguments(args)
    token = calendar.new_feed_token(ctx.tx, ctx.room_id, ctx.now)
    ctx.reply(_paragraphs([("🔑 **Nouveau lien créé** : l'ancien ne fonctionne plus. Les agendas "
                           "abonnés à l'ancien lien doivent être abonnés à celui-ci."),
                           *_feed_lines(ctx, token)]))
