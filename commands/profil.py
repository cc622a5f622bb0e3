"""``!profil``: how a member appears in the minutes (name, function, structure)."""

from __future__ import annotations

from bot.domain.people import load_profile, person_line, update_profile
from bot.engine.context import Context
from bot.engine.registry import UsageError, command, subcommand
from bot.support.text import md_line

MAX_FIELD = 150
USAGE_SET = "profil <fonction> ; <structure>"
USAGE_NAME = "profil nom <Civilité Nom Prénom>"


def _checked(value: str, label: str, usage: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise UsageError(f"{label} est vide.", usage)
    if len(value) > MAX_FIELD:
        raise UsageError(f"{label} est trop long ({len(value)} caractères, {MAX_FIELD} au plus).", usage)
    return value


def _show(ctx: Context, intro: str) -> None:
    profile = load_profile(ctx.tx, ctx.sender)
    line = md_line(person_line(profile, ctx.sender_name))
    prefix = ctx.prefix
    missing = []
    if profile is None or not (profile.role and profile.structure):
        missing.append(f"`{prefix}{USAGE_SET}`")
    if profile is None or not profile.full_name:
        missing.append(f"`{prefix}{USAGE_NAME}`")
    hint = f"  \nPour compléter : {' et '.join(missing)}." if missing else ""
    role = "  \nVous faites partie de l'animation de ce salon." if ctx.is_facilitator else ""
    ctx.reply(f"{intro} **{line}**{hint}{role}")


@command("profil", aliases=("profile",), usage=("profil", USAGE_SET),
         help="mon profil tel qu'il apparaîtra dans les comptes rendus ; le modifier")
def profil(ctx: Context, args: str) -> None:
    if not args:
        _show(ctx, "Dans les comptes rendus, vous apparaissez ainsi :")
        return
    if ";" not in args:
        raise UsageError("séparez la fonction et la structure par un point-virgule « ; ».", USAGE_SET)
    role, structure = args.split(";", 1)
    update_profile(ctx.tx, ctx.sender, ctx.now,
                   role=_checked(role, "la fonction", USAGE_SET),
                   structure=_checked(structure, "la structure", USAGE_SET))
    _show(ctx, "Profil enregistré :")


@subcommand("profil", "nom", aliases=("name",), usage=USAGE_NAME,
            help="mon nom dans les comptes rendus (par défaut : mon nom d'affichage)")
def profil_nom(ctx: Context, args: str) -> None:
    update_profile(ctx.tx, ctx.sender, ctx.now, full_name=_checked(args, "le nom", USAGE_NAME))
    _show(ctx, "Nom enregistré :")
