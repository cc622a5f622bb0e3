"""``!salon``: the room's settings — time zone, network name, reminders (animation changes
them, everyone may see them).

Config gives the defaults; a room's own values live on its ``Room`` row. Changing the
zone moves every date the room reads and writes into it; the rencontres still to come
keep their instants, and the reply says so, with their new local times.
"""

from __future__ import annotations

import re

from bot.domain import room_settings as settings
from bot.domain.dates import format_when_fr
from bot.domain.reminders import describe_offsets, room_offsets
from bot.domain.zones import parse_zone, zone_label
from bot.engine.context import Context
from bot.engine.registry import UsageError, command, refuse_arguments, subcommand
from bot.support.text import excerpt, md_line, normalize

USAGE_SHOW = "salon"
USAGE_ZONE = "salon fuseau <zone IANA ou territoire, ex. Guyane>"
USAGE_NETWORK = "salon reseau <nom du réseau>"
USAGE_ACTIONS = "salon actions <jours avant l'échéance | aucun | defaut> [heure]"
DEFAULT_WORDS = {"defaut", "default", "par defaut"}
NONE_WORDS = {"aucun", "aucune", "none", "non", "0"}


def _default(flag: bool) -> str:
    return " (réglage par défaut)" if flag else ""


def settings_text(ctx: Context) -> str:
    """The room's settings, each marked when it is the configured default."""
    stored = settings.stored_room(ctx.tx, ctx.room_id)
    zone = settings.room_zone(ctx.tx, ctx.config, ctx.room_id)
    offsets = room_offsets(ctx.tx, ctx.config, ctx.room_id)
    days = settings.action_reminder_days(ctx.tx, ctx.room_id)
    at = settings.clock_text(settings.action_reminder_minute(ctx.tx, ctx.room_id))
    before = (f"{days} jour{'s' if days > 1 else ''} avant l'échéance et le jour même, à {at}"
              if days else f"le jour même seulement, à {at}")
    prefix = ctx.prefix
    lines = [
        "**Réglages du salon**", "",
        f"- Fuseau horaire : **{zone}** ({zone_label(zone)})"
        + _default(stored is None or not stored.timezone),
        f"- Réseau : **{md_line(settings.network_name(ctx.tx, ctx.config, ctx.room_id))}**"
        + _default(stored is None or not stored.network_name),
        f"- Rappels avant chaque rencontre : **{describe_offsets(offsets)}**"
        + _default(stored is None or stored.reminder_offsets is None),
        "- Rappel des actions à leur responsable (message privé) : "
        f"**{before}**" + _default(stored is None or (stored.action_reminder_days is None
                                                      and stored.action_reminder_minute is None)),
        "",
        f"Pour changer (animation) : `{prefix}salon fuseau Guyane`, `{prefix}salon reseau <nom>`, "
        f"`{prefix}rappels 7j 1j 1h`, `{prefix}salon actions 2 9h`.",
    ]
    return "\n".join(lines)


@command("salon", aliases=("room",), usage=USAGE_SHOW,
         help="les réglages du salon : fuseau horaire, nom du réseau, rappels")
def salon(ctx: Context, args: str) -> None:
    refuse_arguments(args)
    ctx.reply(settings_text(ctx))


@subcommand("salon", "fuseau", aliases=("timezone", "zone"), usage=USAGE_ZONE, facilitator=True,
            help="le fuseau horaire du salon (nom IANA, ou Guyane, Martinique, Guadeloupe, "
                 "Réunion, Mayotte, Nouvelle-Calédonie, Polynésie…)")
def salon_fuseau(ctx: Context, args: str) -> None:
    zone = parse_zone(args)
    moved = settings.set_zone(ctx.tx, ctx.room_id, zone, ctx.now)
    lines = [f"🕒 Fuseau horaire du salon : **{zone}** ({zone_label(zone)}). Les dates tapées "
             "dans ce salon, les annonces, les rappels, les fichiers .ics et les comptes rendus "
             "suivent désormais ce fuseau."]
    if moved:
        lines += ["", "Les rencontres à venir **gardent leur horaire réel** ; à l'heure du salon :", ""]
        lines += [f"- **#{m.rencontre.number}** « {md_line(m.rencontre.title)} » : "
                  f"{format_when_fr(m.after)} (c'était {format_when_fr(m.before)}, "
                  f"{zone_label(m.before.start.tzinfo.key)})" for m in moved]
    ctx.reply("\n".join(lines))


@subcommand("salon", "reseau", aliases=("network",), usage=USAGE_NETWORK, facilitator=True,
            help="le nom du réseau de ce salon (en-tête des comptes rendus, agenda)")
def salon_reseau(ctx: Context, args: str) -> None:
    name = " ".join(args.split())
    if not name:
        raise UsageError("indiquez le nom du réseau, par exemple « Cités éducatives de Guyane ».")
    if len(name) > settings.MAX_NETWORK_NAME:
        raise UsageError(f"ce nom est trop long ({len(name)} caractères ; "
                         f"{settings.MAX_NETWORK_NAME} au plus).")
    reset = normalize(name) in DEFAULT_WORDS
    settings.set_network_name(ctx.tx, ctx.room_id, None if reset else name, ctx.now)
    shown = settings.network_name(ctx.tx, ctx.config, ctx.room_id)
    ctx.reply(f"✅ Réseau de ce salon : **{md_line(shown)}**{_default(reset)}.")


@subcommand("salon", "actions", usage=USAGE_ACTIONS, facilitator=True,
            help="le rappel des actions à leur responsable : combien de jours avant l'échéance "
                 "(par défaut 2 ; et toujours le jour même) et à quelle heure (par défaut 9h)")
def salon_actions(ctx: Context, args: str) -> None:
    """``2``, ``aucun``, ``defaut``, optionally followed by the time (``2 9h30``); a time
    alone keeps the days. What is not given keeps its setting."""
    words = normalize(args).split()
    minute = _clock(words.pop()) if words and TIME_RE.match(words[-1]) else None
    if minute is not None and words and words[-1] == "a":   # "2 à 9h"
        words.pop()
    text = " ".join(words)
    changes: dict[str, int | None] = {}
    if text in DEFAULT_WORDS:
        changes["days"], changes["minute"] = None, minute
    else:
        if text or minute is None:
            changes["days"] = 0 if text in NONE_WORDS else _days(text, args)
        if minute is not None:
            changes["minute"] = minute
    settings.set_action_reminders(ctx.tx, ctx.room_id, ctx.now, **changes)
    ctx.reply(settings_text(ctx))


TIME_RE = re.compile(r"^(?:a)?(?P<h>\d{1,2})(?:h|:)(?P<m>\d{2})?$")
DAYS_RE = re.compile(r"^(?P<n>\d{1,3})\s*(?:j|jours?)?$")


def _clock(word: str) -> int:
    match = TIME_RE.match(word)
    hours, minutes = int(match["h"]), int(match["m"] or 0)
    if hours > 23 or minutes > 59:
        raise UsageError(f"l'heure « {md_line(excerpt(word))} » n'existe pas : de 0h à 23h59.")
    return hours * 60 + minutes


def _days(text: str, typed: str) -> int:
    match = DAYS_RE.match(text)
    if match and 1 <= int(match["n"]) <= settings.MAX_ACTION_DAYS:
        return int(match["n"])
    raise UsageError(f"« {md_line(excerpt(typed.strip() or ' '))} » : indiquez un nombre de jours "
                     f"de 1 à {settings.MAX_ACTION_DAYS}, « aucun » (rappel le jour même "
                     "seulement) ou « defaut », suivi si vous voulez de l'heure (« 2 9h30 »).")
