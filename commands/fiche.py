"""``!fiche <structure>``: a cité éducative's fiche; with ``clé: valeur`` lines, record it
(its members and the animation may edit; every version is kept)."""

from __future__ import annotations

from bot.domain import fiches
from bot.domain.dates import format_date_fr
from bot.domain.people import load_profile, person_name
from bot.engine.context import Context
from bot.engine.registry import UsageError, command
from bot.support.text import md_line

USAGE = "fiche [structure] [puis des lignes « clé: valeur »]"


def _structure(ctx: Context, first: str) -> str:
    """The structure named, else the sender's own (profile)."""
    if not first.strip():
        profile = load_profile(ctx.tx, ctx.sender)
        if profile is None or not profile.structure:
            raise UsageError("indiquez la structure, par exemple « CE Soissons » (ou enregistrez la "
                             f"vôtre : `{ctx.prefix}profil <fonction> ; <structure>`).")
        return profile.structure
    return fiches.check_structure(first)


@command("fiche", usage=USAGE,
         help="la fiche d'une cité éducative (commune, département, région, agglomération, "
              "population, quartiers, collèges, contact, lien) ; avec des lignes « clé: valeur », "
              "l'enregistrer (ses membres et l'animation)")
def fiche(ctx: Context, args: str) -> None:
    first, *lines = args.split("\n")
    structure = _structure(ctx, first)
    if any(line.strip() for line in lines):
        _record(ctx, structure, lines)
    else:
        ctx.reply(_shown(ctx, structure))


def _record(ctx: Context, structure: str, lines: list[str]) -> None:
    if not fiches.may_edit(ctx.tx, ctx.sender, structure, ctx.is_facilitator):
        raise UsageError(f"seuls les membres de « {md_line(structure)} » (d'après leur profil) et "
                         "l'animation peuvent modifier sa fiche.")
    changes = fiches.parse_lines(lines)
    fiches.record(ctx.tx, structure, changes, ctx.sender, ctx.now)
    ctx.reply("✅ Fiche enregistrée.\n\n" + _shown(ctx, structure))


def _shown(ctx: Context, structure: str) -> str:
    found = fiches.current(ctx.tx, structure)
    prefix = ctx.prefix
    if found is None or not found.fields:
        return (f"Pas encore de fiche pour « {md_line(structure)} ». Ses membres ou l'animation la "
                f"remplissent avec `{prefix}fiche {md_line(structure)}` suivi de lignes « clé: valeur » "
                f"(clés : {fiches.keys_help()}).")
    lines = [f"**Fiche — {md_line(found.structure)}**", ""]
    lines += [f"- {label} : {md_line(value)}" for label, value in fiches.lines_of(found)]
    editor = person_name(load_profile(ctx.tx, found.edited_by), ctx.room.display_name(found.edited_by))
    count = fiches.versions(ctx.tx, structure)
    lines += ["", f"Mise à jour le {format_date_fr(found.edited_at.astimezone(ctx.tz).date())} par "
                  f"{md_line(editor)} ({count} version{'s' if count > 1 else ''})."]
    return "\n".join(lines)
