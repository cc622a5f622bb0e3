"""``!abonner``, ``!desabonner``, ``!agenda``: calendar invitations and the room's feed.

The rencontres commands send ``bot.support.signals.rencontre_changed`` after their
announcement; :func:`deliver` receives it and has ``bot.calendar.invites.deliver`` post the
``.ics`` in the room and send it to the subscribers, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from bot.calendar import invites
from bot.calendar import mailer
from bot.domain.dates import format_when_fr
from bot.domain.rencontres import mode_label, upcoming
from bot.engine.context import Context
from bot.engine.registry import UsageError, command, receives, refuse_arguments, subcommand
from bot.storage.models import Rencontre
from bot.support.signals import rencontre_changed
from bot.support.text import excerpt, md_code, md_line, md_link

AGENDA_SHOWN = 5
USAGE_SUBSCRIBE = "abonner [e-mail]"
USAGE_AGENDA = ("agenda", "agenda nouveau-lien")


@receives(rencontre_changed)
def deliver(ctx: Context, rencontre: Rencontre, change: str,
            occurrence_start: datetime | None = None) -> None:
    """A rencontre planned, changed or cancelled: its invitations (room, DMs, e-mails)."""
    invites.deliver(ctx, rencontre, change, occurrence_start)


# --------------------------------------------------------------------------- !abonner


def _address(args: str) -> str:
    """The e-mail address given (checked strictly), or ""."""
    if not args:
        return ""
    return mailer.check_address(args)


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
    existing = invites.subscription(ctx.tx, ctx.room_id, ctx.sender)
    if existing is not None and existing.email and not email:
        notes.append("Votre adresse e-mail précédente n'est plus utilisée.")
    subscriber = invites.subscribe(ctx.tx, ctx.room_id, ctx.sender, email, ctx.now)
    sent = invites.send_upcoming(ctx, subscriber, by_dm=existing is None)
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
    existing = invites.subscription(ctx.tx, ctx.room_id, ctx.sender)
    prefix = ctx.prefix
    if existing is None:
        raise UsageError("vous n'êtes pas abonné·e aux invitations de ce salon : rien à arrêter. "
                         f"Pour vous abonner : `{prefix}{USAGE_SUBSCRIBE}`.")
    invites.unsubscribe(ctx.tx, existing)
    ctx.reply("C'est noté : vous ne recevrez plus les invitations de ce salon "
              f"(pour vous réabonner : `{prefix}{USAGE_SUBSCRIBE}`).")


# --------------------------------------------------------------------------- !agenda


def _paragraphs(*blocks: list[str]) -> str:
    """Markdown: lines of a block joined by hard breaks, blocks by blank lines."""
    return "\n\n".join("  \n".join(block) for block in blocks if block)


def _feed_lines(ctx: Context, token: str) -> list[str]:
    feed = invites.feed_url(ctx.config, token)
    minutes = invites.minutes_url(ctx.config, token)
    return [(f"Lien de l'agenda, à ajouter à votre application d'agenda (mis à jour "
            f"automatiquement) : {md_link(feed, feed)}"),
            ("Ou, pour l'ouvrir directement dans l'application : "
            f"{md_code(invites.webcal_url(ctx.config, token))}"),
            f"Comptes rendus publiés : {md_link(minutes, minutes)}"]


def _upcoming_lines(ctx: Context) -> list[str]:
    coming = upcoming(ctx.tx, ctx.room_id, ctx.now)[:AGENDA_SHOWN]
    return [f"- **#{rencontre.number}** {md_line(format_when_fr(when))} — "
            f"{md_line(invites.title_of(rencontre))} ({mode_label(rencontre.mode)})"
            for rencontre, when in coming]


@command("agenda", aliases=("calendar",), usage=USAGE_AGENDA[0],
         help="le lien de l'agenda du salon (pour votre application d'agenda) et les prochaines "
              "rencontres")
def agenda(ctx: Context, args: str) -> None:
    prefix = ctx.prefix
    if args:
        raise UsageError(f"je ne comprends pas « {md_line(excerpt(args))} » après `{prefix}agenda`.",
                         USAGE_AGENDA)
    token = invites.feed_token(ctx.tx, ctx.room_id, ctx.now)
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
    token = invites.new_feed_token(ctx.tx, ctx.room_id, ctx.now)
    ctx.reply(_paragraphs([("🔑 **Nouveau lien créé** : l'ancien ne fonctionne plus. Les agendas "
                           "abonnés à l'ancien lien doivent être abonnés à celui-ci."),
                           *_feed_lines(ctx, token)]))
