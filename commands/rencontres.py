"""Rencontres in the room: plan, change, cancel (animation); list, details, register,
excuse, withdraw, attendees (everyone); ✅/❌ reactions on announcements; ``!rappels``.

Handlers stay thin: parsing and rules live in :mod:`bot.domain.rencontres`, whose French
errors (``UserError``) the engine turns into usage replies. Announcements are rendered from
``templates/annonce.md.j2`` and tagged so that the outbox learns their event id
(reactions on them count as answers); then ``rencontre_changed`` is sent for the
calendar. Importing this module also registers the reminders service.
"""

from __future__ import annotations

from datetime import date

from bot.domain import polls, registrations, rencontres
from bot.domain import room_settings as settings
from bot.domain.dates import When, format_date_fr, format_when_fr
from bot.domain.people import load_profile, person_line, person_name
from bot.domain.reminders import describe_offsets, parse_offsets, room_offsets
from bot.engine.context import Context
from bot.engine.events import Reaction, Redaction
from bot.engine.registry import (
    FACILITATORS,
    UsageError,
    command,
    listen,
    refuse_arguments,
    subcommand,
)
from bot.storage.models import Rencontre, RencontreStatus, RsvpStatus
from bot.support.signals import rencontre_changed
from bot.support.templating import render
from bot.support.text import excerpt, md_line, normalize
from commands import sondage

USAGE_SHOW = "rencontre [n]"
USAGE_PLAN = "rencontre planifier <date et heure>, puis des lignes « clé: valeur »"
USAGE_EDIT = "rencontre modifier <n>, puis des lignes « clé: valeur »"
USAGE_CANCEL = "rencontre annuler <n> [le <date>] [motif]"
USAGE_REGISTER = "inscription [n]"
USAGE_EXCUSE = "excuse [n] [motif]"
USAGE_WITHDRAW = "desinscription [n]"
USAGE_ATTENDEES = "inscrits [n]"
USAGE_REMINDERS = "rappels [7j 1j 1h | defaut | aucun]"

YES_KEYS = frozenset({"✅", "✔", "☑", "👍"})
NO_KEYS = frozenset({"❌"})
# Variation selector and skin tones: 👍🏽 counts as 👍, ✔️ as ✔.
KEY_MODIFIERS = dict.fromkeys([0xFE0F, *range(0x1F3FB, 0x1F400)])


def _named(rencontre: Rencontre) -> str:
    return f"rencontre #{rencontre.number} « {md_line(rencontre.title)} »"


def _uid_domain(ctx: Context) -> str:
    return ctx.bot_user_id.partition(":")[2] or "maillage"


# --- announcements ---------------------------------------------------------------------------

HEADLINES = {   # {n}: the rencontre's number
    "created": ("📅", "Nouvelle rencontre #{n}"),
    "modified": ("✏️", "Rencontre #{n} modifiée"),
    "cancelled": ("🚫", "Rencontre #{n} annulée"),
    "occurrence_cancelled": ("🚫", "Date annulée — rencontre #{n}"),
    "shown": ("📅", "Rencontre #{n}"),
    "shown_cancelled": ("🚫", "Rencontre #{n} annulée"),
}
NOTES = {
    "cancelled_series": "**Toute la série est annulée** : aucune des dates à venir n'est maintenue.",
    "occurrence_cancelled": "**Seule cette date est annulée** ; les autres dates sont maintenues.",
}


def announce(ctx: Context, rencontre: Rencontre, change: str, view: rencontres.RencontreView, *,
             changes: list[str] = (), reason: str = "", note: str = "", **signal: object) -> None:
    """Post the announcement, then tell the other modules (calendar) in the same transaction.
    Only invitations (created, modified) are tagged: reactions on them are answers."""
    icon, headline = HEADLINES[change]
    headline = headline.format(n=rencontre.number)
    invitation = change in ("created", "modified")
    ctx.send(render("annonce.md.j2", ctx.config.minutes.templates_dir, icon=icon, headline=headline,
                    v=view, changes=list(changes), reason=reason, note=note, inscrits=None,
                    excuses=[], how="reactions" if invitation else "",
                    prefix=ctx.prefix),
             tag=f"{rencontres.ANNOUNCE_TAG}:{rencontre.id}" if invitation else "")
    rencontre_changed.send(ctx, rencontre, change, **signal)


# --- animation: plan, change, cancel ----------------------------------------------------------

@command("rencontre", aliases=("meeting",), usage=USAGE_SHOW,
         help="le détail d'une rencontre (par défaut la prochaine) : objectif, ordre du jour, "
              "lieu ou lien, inscrit·e·s et excusé·e·s")
def rencontre(ctx: Context, args: str) -> None:
    number, rest = rencontres.split_number(args)
    if rest:
        raise UsageError(f"« {md_line(excerpt(rest))} » n'est ni un numéro de rencontre ni une "
                         "sous-commande (planifier, modifier, annuler).")
    found = rencontres.target(ctx.tx, ctx.room_id, number, ctx.now)
    ctx.reply(_details(ctx, found))


def _details(ctx: Context, found: Rencontre) -> str:
    registered, excused = registrations.answers(ctx.tx, found)
    cancelled = found.status == RencontreStatus.CANCELLED
    view = rencontres.current_view(ctx.tx, found, ctx.now)
    is_open = bool(rencontres.next_occurrences(found, rencontres.cancelled_starts(ctx.tx, found), ctx.now, 1))
    icon, headline = HEADLINES["shown_cancelled" if cancelled else "shown"]
    return render("annonce.md.j2", ctx.config.minutes.templates_dir,
                  icon=icon, headline=headline.format(n=found.number),
                  v=view, changes=[], reason=found.cancel_reason if cancelled else "", note="",
                  inscrits=[_name(ctx, r.user_id) for r in registered],
                  excuses=[{"name": _name(ctx, r.user_id), "reason": r.reason} for r in excused],
                  how="commands" if is_open else "", prefix=ctx.prefix)


@subcommand("rencontre", "planifier", aliases=("schedule",), usage=USAGE_PLAN, facilitator=True,
            help="planifier une rencontre ; clés : titre, mode, lieu, lien, objectif, odj et "
                 "intervenant (répétables), repeter (ex. « tous les mois ») ; « sondage » à la "
                 "place de la date : la date retenue par le sondage")
def planifier(ctx: Context, args: str) -> None:
    first, *lines = args.split("\n")
    word, _, rest = first.strip().partition(" ")
    poll = None
    if normalize(word) == "sondage":   # the date chosen by the room's date poll
        first, title, poll = sondage.plan_from_poll(ctx, rest)
        lines = [f"titre: {title}", *lines] if title else lines
    fields = rencontres.parse_fields(lines)
    created = rencontres.create(ctx.tx, ctx.room_id, first.strip(), fields, tz=ctx.tz,
                            now=ctx.now, created_by=ctx.sender, uid_domain=_uid_domain(ctx))
    if poll is not None:
        polls.link_rencontre(ctx.tx, poll, created)
    ctx.reply(f"✅ Rencontre #{created.number} planifiée ; son annonce suit. "
              f"Pour la changer : `{ctx.prefix}rencontre modifier {created.number}`.")
    announce(ctx, created, "created", rencontres.current_view(ctx.tx, created, ctx.now))


@subcommand("rencontre", "modifier", aliases=("edit",), usage=USAGE_EDIT, facilitator=True,
            help="changer une rencontre (mêmes clés, et « date: ») ; une nouvelle annonce est publiée")
def modifier(ctx: Context, args: str) -> None:
    first, *lines = args.split("\n")
    number, rest = rencontres.split_number(first)
    if number is None:
        raise UsageError("indiquez le numéro de la rencontre à modifier, par exemple `4` ou `#4`.")
    found = rencontres.by_number(ctx.tx, ctx.room_id, number)
    fields = rencontres.parse_fields([rest, *lines])
    changed = rencontres.modify(ctx.tx, found, fields, tz=ctx.tz, now=ctx.now)
    ctx.reply(f"✅ La {_named(found)} est modifiée ({', '.join(changed)}) ; "
              "la nouvelle annonce suit.")
    announce(ctx, found, "modified", rencontres.current_view(ctx.tx, found, ctx.now), changes=changed)


@subcommand("rencontre", "annuler", aliases=("cancel",), usage=USAGE_CANCEL, facilitator=True,
            help="annuler une rencontre ; une rencontre répétée : toute la série, ou une seule "
                 "date avec « le 9 juin »")
def annuler(ctx: Context, args: str) -> None:
    number, rest = rencontres.split_number(" ".join(args.split()))
    if number is None:
        raise UsageError("indiquez le numéro de la rencontre à annuler, par exemple `4` ou `#4`.")
    found = rencontres.by_number(ctx.tx, ctx.room_id, number)
    next_when = rencontres.require_open(ctx.tx, found, ctx.now)
    on_day = _date_prefix(ctx, rest)
    if on_day is not None and found.recurrence:
        _cancel_occurrence(ctx, found, *on_day)
        return
    if on_day is not None:
        _check_same_day(found, next_when, on_day[0])
        rest = on_day[1]
    _cancel_whole(ctx, found, next_when, rest)


def _date_prefix(ctx: Context, rest: str) -> tuple[date, str] | None:
    """ "le 1er juillet motif" → (that day, "motif"); None when no date starts the text;
    an invalid date ("le 31 février") is refused rather than taken for a motif."""
    return rencontres.split_date_prefix(rest, ctx.tz, ctx.now)


def _check_same_day(found: Rencontre, when: When, day: date) -> None:
    if when.start.date() != day:
        raise UsageError(f"la {_named(found)} a lieu le {format_when_fr(when)}, "
                         f"pas le {format_date_fr(day)}.")


def _cancel_whole(ctx: Context, found: Rencontre, next_when: When, reason: str) -> None:
    view = rencontres.view_of(found, next_when)
    rencontres.cancel(ctx.tx, found, reason, ctx.now)
    prefix = ctx.prefix
    if found.recurrence:
        ctx.reply(f"🚫 La {_named(found)} est annulée : **toute la série** (toutes ses dates "
                  f"à venir). Pour n'annuler qu'une date : `{prefix}rencontre annuler "
                  f"{found.number} le <date>`.")
        announce(ctx, found, "cancelled", view, reason=reason, note=NOTES["cancelled_series"])
        return
    ctx.reply(f"🚫 La {_named(found)} du {format_when_fr(next_when)} est annulée.")
    announce(ctx, found, "cancelled", view, reason=reason)


def _cancel_occurrence(ctx: Context, found: Rencontre, day: date, reason: str) -> None:
    when = rencontres.occurrence_on(found, rencontres.cancelled_starts(ctx.tx, found), day, ctx.now)
    if when is None:
        nexts = rencontres.next_occurrences(found, rencontres.cancelled_starts(ctx.tx, found), ctx.now, 3)
        raise UsageError(
            f"la {_named(found)} n'a pas de date à venir le {format_date_fr(day)} ; prochaines "
            f"dates : {' ; '.join(format_when_fr(w) for w in nexts)}.")
    rencontres.cancel_occurrence(ctx.tx, found, when, reason, ctx.now)
    following = rencontres.next_occurrences(found, rencontres.cancelled_starts(ctx.tx, found), ctx.now,
                                        rencontres.NEXT_DATES_SHOWN)
    ctx.reply(f"🚫 Seule la date du {format_when_fr(when)} de la {_named(found)} est annulée ; "
              "**les autres dates sont maintenues**. Pour annuler toute la série : "
              f"`{ctx.prefix}rencontre annuler {found.number}`.")
    announce(ctx, found, "occurrence_cancelled", rencontres.view_of(found, when, following),
             reason=reason, note=NOTES["occurrence_cancelled"], occurrence_start=when.start)


# --- everyone: list, answers ------------------------------------------------------------------

@command("rencontres", aliases=("meetings",), usage="rencontres",
         help="les rencontres à venir : numéro, date, mode, titre, nombre d'inscrit·e·s")
def list_rencontres(ctx: Context, args: str) -> None:
    refuse_arguments(args)
    coming = rencontres.upcoming(ctx.tx, ctx.room_id, ctx.now)
    prefix = ctx.prefix
    if not coming:
        ctx.reply("Aucune rencontre à venir dans ce salon.")
        return
    counts = registrations.registered_counts(ctx.tx, [r.id for r, _ in coming])
    lines = ["**Rencontres à venir**", ""]
    lines += [_listing_line(ctx, r, counts.get(r.id, 0)) for r, _ in coming]
    footer = (f"Détail : `{prefix}rencontre <n>` ; inscription : `{prefix}inscription <n>` "
              "ou ✅ sur l'annonce.")
    lines += ["", footer]
    ctx.reply("\n".join(lines))


def _listing_line(ctx: Context, found: Rencontre, registered: int) -> str:
    view = rencontres.current_view(ctx.tx, found, ctx.now)
    parts = [f"**#{view.number}**", view.when_text, view.mode, md_line(view.title)]
    if view.recurrence_text:
        parts.append(view.recurrence_text + (f", puis {' ; '.join(view.next_dates)}"
                                             if view.next_dates else ""))
    parts.append(_count(registered))
    return "- " + " — ".join(parts)


def _count(registered: int) -> str:
    if registered == 0:
        return "aucun·e inscrit·e"
    return f"{registered} inscrit·e{'·s' if registered > 1 else ''}"


def _open_target(ctx: Context, args: str) -> tuple[Rencontre, str, str]:
    """(rencontre, its label for the reply, the rest of the arguments)."""
    number, rest = rencontres.split_number(args)
    found = rencontres.target(ctx.tx, ctx.room_id, number, ctx.now)
    when = rencontres.require_open(ctx.tx, found, ctx.now)
    which = " (la prochaine de ce salon)" if number is None else ""
    series = " Cela vaut pour toutes ses dates." if found.recurrence else ""
    return found, f"la {_named(found)}{which}, {format_when_fr(when)}.{series}", rest


def _numbered_target(ctx: Context, args: str) -> tuple[Rencontre, str]:
    """Like ``_open_target`` for commands that take nothing but the number."""
    found, label, rest = _open_target(ctx, args)
    if rest:
        raise UsageError(f"« {md_line(excerpt(rest))} » n'est pas un numéro de rencontre.")
    return found, label


@command("inscription", aliases=("rsvp", "present"), usage=USAGE_REGISTER,
         help="m'inscrire à une rencontre (par défaut la prochaine) ; ou ✅ sur son annonce")
def inscription(ctx: Context, args: str) -> None:
    found, label = _numbered_target(ctx, args)
    registrations.answer(ctx.tx, found, ctx.sender, RsvpStatus.REGISTERED, "", ctx.now)
    ctx.reply(f"✅ Vous êtes inscrit·e à {label}{_profile_hint(ctx)}")


@command("excuse", aliases=("excused", "absent"), usage=USAGE_EXCUSE,
         help="m'excuser pour une rencontre, avec un motif si je veux ; ou ❌ sur son annonce")
def excuse(ctx: Context, args: str) -> None:
    found, label, reason = _open_target(ctx, args)
    registrations.answer(ctx.tx, found, ctx.sender, RsvpStatus.EXCUSED, reason, ctx.now)
    motif = f" Motif : {md_line(reason)}." if reason else ""
    ctx.reply(f"Excuse enregistrée pour {label}{motif}")


@command("desinscription", aliases=("unrsvp",), usage=USAGE_WITHDRAW,
         help="retirer mon inscription ou mon excuse (retirer sa réaction fait de même)")
def desinscription(ctx: Context, args: str) -> None:
    found, label = _numbered_target(ctx, args)
    withdrawn = registrations.withdraw(ctx.tx, found, ctx.sender)
    if withdrawn:
        ctx.reply(f"Votre réponse est retirée pour {label}")
    else:
        ctx.reply(f"Vous n'aviez pas répondu pour {label} Rien à retirer.")


def _profile_hint(ctx: Context) -> str:
    profile = load_profile(ctx.tx, ctx.sender)
    if profile is not None and profile.role and profile.structure:
        return ""
    return (f"  \nPour figurer avec votre fonction et votre structure : "
            f"`{ctx.prefix}profil <fonction> ; <structure>`.")


def _name(ctx: Context, user_id: str) -> str:
    return person_name(load_profile(ctx.tx, user_id), ctx.room.display_name(user_id))


def _line(ctx: Context, user_id: str) -> str:
    return md_line(person_line(load_profile(ctx.tx, user_id), ctx.room.display_name(user_id)))


@command("inscrits", aliases=("attendees",), usage=USAGE_ATTENDEES,
         help="qui est inscrit·e et qui est excusé·e, avec fonction et structure")
def inscrits(ctx: Context, args: str) -> None:
    number, rest = rencontres.split_number(args)
    if rest:
        raise UsageError(f"« {md_line(excerpt(rest))} » n'est pas un numéro de rencontre.")
    found = rencontres.target(ctx.tx, ctx.room_id, number, ctx.now)
    registered, excused = registrations.answers(ctx.tx, found)
    view = rencontres.current_view(ctx.tx, found, ctx.now)
    lines = [f"**Rencontre #{found.number} — {md_line(found.title)}** ({view.when_text})", "",
             f"**Inscrit·e·s ({len(registered)}) :**", ""]
    lines += [f"- {_line(ctx, r.user_id)}" for r in registered] or ["Personne pour l'instant."]
    if excused:
        lines += ["", f"**Excusé·e·s ({len(excused)}) :**", ""]
        lines += [f"- {_line(ctx, r.user_id)}" + (f" — {md_line(r.reason)}" if r.reason else "")
                  for r in excused]
    ctx.reply("\n".join(lines))


# --- reactions on announcements ----------------------------------------------------------------

def reaction_status(key: str) -> str | None:
    """✅ ✔️ ☑️ 👍 (any skin tone) → registered; ❌ → excused; anything else → None."""
    base = key.translate(KEY_MODIFIERS).strip()
    if base in YES_KEYS:
        return RsvpStatus.REGISTERED
    if base in NO_KEYS:
        return RsvpStatus.EXCUSED
    return None


@listen("reaction")
def on_reaction(ctx: Context, reaction: Reaction) -> None:
    """A ✅ or ❌ on an announcement is an answer; silent, to keep the room quiet."""
    status = reaction_status(reaction.key)
    found = rencontres.announcement_target(ctx.tx, reaction.target_event_id) if status else None
    if found is None or found.room_id != ctx.room_id:
        return
    if rencontres.open_date(ctx.tx, found, ctx.now) is None:
        return                              # cancelled or past: no answer any more
    registrations.answer(ctx.tx, found, ctx.sender, status, "", ctx.now,
                  reaction_event_id=reaction.event_id)


@listen("redaction")
def on_redaction(ctx: Context, redaction: Redaction) -> None:
    """Removing the reaction that gave an answer withdraws it (silently)."""
    registrations.withdraw_reaction(ctx.tx, redaction.redacts)


# --- reminders -----------------------------------------------------------------------------------

@command("rappels", aliases=("reminders",), usage=USAGE_REMINDERS, facilitator=True,
         group=FACILITATORS,
         help="voir ou régler les rappels avant chaque rencontre de ce salon "
              "(par défaut J-7, J-1, H-1)")
def rappels(ctx: Context, args: str) -> None:
    if args:
        minutes = parse_offsets(args)
        settings.set_reminder_offsets(ctx.tx, ctx.room_id, minutes, ctx.now)
    offsets = room_offsets(ctx.tx, ctx.config, ctx.room_id)
    stored = settings.stored_room(ctx.tx, ctx.room_id)
    source = " (réglage par défaut)" if stored is None or stored.reminder_offsets is None else ""
    ctx.reply(f"Rappels avant chaque rencontre de ce salon : **{describe_offsets(offsets)}**{source}.")
