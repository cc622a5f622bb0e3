"""The facilitators' side of a séance: ``!seance ouvrir|clore``, ``!point``, ``!presence``.

MeetBot's words (``!startmeeting``, ``#topic``, ``#endmeeting``) are commands of their
own calling the same functions: registry aliases name a command, not a subcommand.
"""

from __future__ import annotations

from datetime import date

from bot.domain import attendance, capture
from bot.domain import seance as lifecycle
from bot.domain.actions import open_actions, overdue_text
from bot.domain.capture_parse import MOOD_CHOICES, find_person
from bot.domain.dates import format_hours_fr, format_when_fr
from bot.domain.people import load_profile, person_name
from bot.domain.rencontres import by_number, split_number, when_of
from bot.engine.context import Context
from bot.engine.registry import FACILITATORS, UsageError, command, refuse_arguments, subcommand
from bot.storage.models import Rencontre, RencontreStatus, Seance
from bot.support.templating import render
from bot.support.text import excerpt, md_line

USAGE_OPEN = "seance ouvrir [n]"
HELP_OPEN = ("ouvrir la séance de la rencontre n (par défaut, celle du jour ; sinon une séance "
             "libre, titrée par le texte donné) : ordre du jour, météo, prise de notes")
HELP_CLOSE = "clore la séance : fin de la prise de notes et bilan"
METEO_PROMPT = ("☀️ **Météo du jour** : comment allez-vous, et comment va votre cité éducative ? "
                "Répondez à ce message (ou dans son fil) en commençant par votre humeur, "
                f"{MOOD_CHOICES}, puis quelques mots. Ou bien : `{{prefix}}meteo 4 …`")


def _prefix(ctx: Context) -> str:
    return ctx.prefix


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.tz).date()


def _open_seance(ctx: Context) -> Seance:
    seance = capture.open_seance(ctx.tx, ctx.room_id)
    if seance is None:
        raise UsageError("aucune séance n'est ouverte dans ce salon "
                         f"(`{_prefix(ctx)}{USAGE_OPEN}`).")
    return seance


# --- opening and closing ---------------------------------------------------------------------

@subcommand("seance", "ouvrir", aliases=("open",), usage=USAGE_OPEN, help=HELP_OPEN,
            shortcuts=("startmeeting", "#startmeeting"),
            facilitator=True, group=FACILITATORS)
def seance_ouvrir(ctx: Context, args: str) -> None:
    _refuse_second(ctx)
    number, title = split_number(args)
    if number is not None:
        rencontre = _rencontre(ctx, number)
    else:
        rencontre = lifecycle.todays_rencontre(ctx.tx, ctx.room_id, _today(ctx), ctx.tz,
                                                    ctx.now)
    seance = lifecycle.open_new(ctx, rencontre, title)
    late = overdue_text(ctx.tx, ctx.room, open_actions(ctx.tx, ctx.room_id), _today(ctx),
                        _prefix(ctx))
    ctx.reply(_opening(ctx, seance, rencontre) + (f"\n\n{late}" if late else ""))
    ctx.send(METEO_PROMPT.format(prefix=_prefix(ctx)), tag=f"{capture.METEO_TAG}:{seance.id}")


def _refuse_second(ctx: Context) -> None:
    """One open séance per room: say which one is open."""
    current = capture.open_seance(ctx.tx, ctx.room_id)
    if current is None:
        return
    since = current.opened_at.astimezone(ctx.tz)
    raise UsageError(f"la séance n°{current.number} (« {md_line(current.title)} ») est déjà "
                     f"ouverte depuis {format_hours_fr(since.time(), None)} le {since:%d/%m/%Y}. "
                     f"Fermez-la d'abord avec `{_prefix(ctx)}seance clore`.")


def _rencontre(ctx: Context, number: int) -> Rencontre:
    rencontre = by_number(ctx.tx, ctx.room_id, number)
    if rencontre.status == RencontreStatus.CANCELLED:
        raise UsageError(f"la rencontre #{number} est annulée.")
    return rencontre


def _opening(ctx: Context, seance: Seance, rencontre: Rencontre | None) -> str:
    agenda = [str(point) for point in rencontre.agenda] if rencontre else []
    when = ""
    if rencontre is not None:
        day = lifecycle.occurrence_of_day(ctx.tx, rencontre, _today(ctx), ctx.tz)
        when = format_when_fr(day or when_of(rencontre))
    return render("seance_ouverture.md.j2", ctx.config.minutes.templates_dir, number=seance.number,
                  title=seance.title, rencontre_number=rencontre.number if rencontre else None,
                  when_text=when, agenda=agenda, marker=ctx.config.bot.off_record_marker,
                  prefix=_prefix(ctx))


@subcommand("seance", "clore", aliases=("close", "fermer"), usage="seance clore", help=HELP_CLOSE,
            shortcuts=("endmeeting", "#endmeeting"),
            facilitator=True, group=FACILITATORS)
def seance_clore(ctx: Context, args: str) -> None:
    refuse_arguments(args)
    lifecycle.close(ctx, _open_seance(ctx))


# --- agenda items -------------------------------------------------------------------------------

@command("point", aliases=("topic", "#topic"), usage="point <titre>", facilitator=True,
         group=FACILITATORS, help="le point de l'ordre du jour en cours (la discussion s'y range)")
def point(ctx: Context, args: str) -> None:
    seance = _open_seance(ctx)
    if not args.strip():
        raise UsageError(f"indiquez le titre du point, ou `{_prefix(ctx)}point suivant`.")
    _start_topic(ctx, seance, args.strip())


@subcommand("point", "suivant", aliases=("next",), usage="point suivant", facilitator=True,
            help="passer au point suivant de l'ordre du jour de la rencontre")
def point_suivant(ctx: Context, args: str) -> None:
    if args.strip():  # never drop what was typed: a titled point is "!point <titre>"
        raise UsageError(f"`{_prefix(ctx)}point suivant` ne prend pas de texte ; pour un point "
                         f"titré, tapez `{_prefix(ctx)}point <titre>`.")
    seance = _open_seance(ctx)
    _start_topic(ctx, seance, _next_agenda_point(ctx, seance))


def _start_topic(ctx: Context, seance: Seance, title: str) -> None:
    topic = lifecycle.start_topic(ctx.tx, seance, title, ctx.now)
    ctx.send(f"📌 **Point {topic.position}** : {md_line(title)}")
    ctx.react(capture.ACK)


def _next_agenda_point(ctx: Context, seance: Seance) -> str:
    """The agenda entry after the current point (or the first one not yet taken)."""
    agenda = lifecycle.agenda_of(ctx.tx, seance)
    prefix = _prefix(ctx)
    if not agenda:
        raise UsageError("cette séance n'a pas d'ordre du jour : donnez le titre, "
                         f"`{prefix}point <titre>`.")
    index = lifecycle.next_agenda_index(ctx.tx, seance, agenda)
    if index >= len(agenda):
        raise UsageError("l'ordre du jour est terminé : pour un point de plus, "
                         f"`{prefix}point <titre>`.")
    return agenda[index]


# --- attendance -----------------------------------------------------------------------------------

@command("presence", usage=("presence @personne", "presence -@personne"), facilitator=True,
         group=FACILITATORS,
         help="corriger les présent·e·s de la séance "
              "(avec -, retirer la personne ; plusieurs : virgules)")
def presence(ctx: Context, args: str) -> None:
    seance = capture.open_seance(ctx.tx, ctx.room_id) or _latest(ctx)
    changes = [_presence_change(ctx, entry) for entry in args.split(",") if entry.strip()]
    if not changes:
        raise UsageError("indiquez la personne : @Prénom Nom, ou -@Prénom Nom pour la retirer.")
    lines = []
    for user, present in changes:
        attendance.correct_presence(ctx.tx, seance, user, present, ctx.now)
        name = person_name(load_profile(ctx.tx, user), ctx.room.display_name(user))
        lines.append(f"{md_line(name)} : {'présent·e' if present else 'absent·e'}")
    ctx.reply(f"Présences corrigées (séance n°{seance.number}) : " + " ; ".join(lines) + ".")


def _latest(ctx: Context) -> Seance:
    """Out of a séance, corrections go to the room's last one (before its minutes are out)."""
    seance = capture.latest_seance(ctx.tx, ctx.room_id)
    if seance is None:
        raise UsageError("il n'y a encore eu aucune séance dans ce salon.")
    return seance


def _presence_change(ctx: Context, entry: str) -> tuple[str, bool]:
    entry = entry.strip()
    absent = entry.startswith("-")
    person = entry[1:].strip() if absent else entry
    user = find_person(ctx.room, person)
    if user is None:
        raise UsageError(f"je ne trouve pas « {md_line(excerpt(person))} » parmi les membres du salon.")
    return user, not absent
