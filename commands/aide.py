"""``!aide`` / ``!help``: generated from the registry, so it never drifts."""

from __future__ import annotations

from dataclasses import dataclass

from bot.context import Context
from bot.templating import render
from bot.text import md_line
from commands.registry import GROUP_ORDER, REGISTRY, Command, UsageError, command


@dataclass(frozen=True)
class HelpLine:
    usage: str
    help: str
    facilitator: bool


def _lines(cmd: Command, prefix: str) -> list[HelpLine]:
    lines = []
    if cmd.handler is not None:
        usages = (cmd.usage,) if isinstance(cmd.usage, str) else cmd.usage
        lines += [HelpLine(prefix + usage, cmd.help, cmd.facilitator_only) for usage in usages]
    lines += [HelpLine(prefix + s.usage, s.help, s.facilitator_only) for s in cmd.sub_order]
    return lines


def _groups(prefix: str) -> list[dict]:
    groups = []
    for title in GROUP_ORDER:
        lines = [line for cmd in REGISTRY.commands if cmd.group == title for line in _lines(cmd, prefix)]
        if lines:
            groups.append({"title": title, "lines": lines})
    return groups


def _one(cmd: Command, prefix: str) -> dict:
    aliases = ", ".join(prefix + a if not a.startswith("#") else a for a in cmd.aliases)
    return {"title": prefix + cmd.name, "aliases": aliases, "lines": _lines(cmd, prefix)}


@command("aide", aliases=("help",), usage="aide [commande]",
         help="la liste des commandes, ou le détail d'une commande")
def aide(ctx: Context, args: str) -> None:
    prefix = ctx.config.bot.command_prefix
    templates_dir = ctx.config.minutes.templates_dir
    if not args:
        ctx.reply(render("aide.md.j2", templates_dir, command=None, groups=_groups(prefix), prefix=prefix))
        return
    word = args.split()[0].removeprefix(prefix)
    found = REGISTRY.find(word) or REGISTRY.find("#" + word.lstrip("#"))
    if found is None:
        raise UsageError(f"je ne connais pas la commande « {md_line(word)} ».")
    ctx.reply(render("aide.md.j2", templates_dir, command=_one(found, prefix), groups=[], prefix=prefix))
