"""``!actions``: the room's open actions by person (``moi``: mine; ``@personne``: theirs).

Importing this module also registers the action reminders service (direct messages to
the owner before the due date and on the day, :mod:`bot.services.action_reminders`).
"""

from __future__ import annotations

from bot.domain import actions
from bot.domain.capture_parse import find_person
from bot.engine.context import Context
from bot.engine.registry import UsageError, command
from bot.support.text import excerpt, md_line, normalize

USAGE = "actions [moi | @personne]"
MINE_WORDS = {"moi", "mes", "me", "mine", "miennes"}
MAX_NAME = 100


def _today(ctx: Context):
    return ctx.now.astimezone(ctx.tz).date()


def _whose(ctx: Context, args: str) -> str | None:
    """None: everyone's; else the owner asked for ("moi", a member, a user id)."""
    text = args.strip()
    if not text:
        return None
    if normalize(text) in MINE_WORDS:
        return ctx.sender
    owner = find_person(ctx.room, text) if len(text) <= MAX_NAME else None
    if owner is None:
        raise UsageError(f"je ne trouve pas « {md_line(excerpt(text))} » parmi les membres du salon : "
                         "tapez `moi`, ou mentionnez la personne (@Prénom Nom).")
    return owner


@command("actions", usage=USAGE,
         help="les actions à suivre encore ouvertes, par personne (moi : les miennes), avec leur "
              "échéance et le compte rendu d'où elles viennent")
def list_actions(ctx: Context, args: str) -> None:
    owner = _whose(ctx, args)
    found = actions.open_actions(ctx.tx, ctx.room_id, owner)
    prefix = ctx.prefix
    today = _today(ctx)
    if not found:
        who = ("Vous n'avez" if owner == ctx.sender else
               f"{md_line(actions.owner_name(ctx.tx, ctx.room, owner))} n'a" if owner else "Il n'y a")
        ctx.reply(f"{who} aucune action ouverte dans ce salon.")
        return
    late = len(actions.overdue(found, today))
    title = "Mes actions à suivre" if owner == ctx.sender else "Actions à suivre"
    lines = [f"**{title}** ({len(found)} ouverte{'s' if len(found) > 1 else ''}"
             + (f", dont {late} en retard" if late else "") + ")", ""]
    for name, group in actions.by_person(ctx.tx, ctx.room, found):
        lines += [f"**{md_line(name)}**", ""]
        lines += [actions.action_line(a, today) for a in group]
        lines.append("")
    lines.append(f"Quand c'est fait : `{prefix}action fait <n>`.")
    ctx.reply("\n".join(lines))
