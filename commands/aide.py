"""``!aide`` / ``!help``: generated from the registry, so it never drifts."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.context import Context
from bot.engine.registry import GROUP_ORDER, Command, Registry, UsageError, command
from bot.support.templating import render
from bot.support.text import excerpt, md_line


@dataclass(frozen=True)
class HelpLine:
    usage: str
    help: str
    facilitator: bool
    group: str
    aliases: str = ""


def _words(words: tuple[str, ...], prefix: str) -> str:
    return ", ".join(word if word.startswith("#") else prefix + word for word in words)


def _sub_aliases(cmd: Command, sub) -> tuple[str, ...]:
    """``!meeting schedule`` for ``!rencontre planifier``; then shortcuts (``!startmeeting``)."""
    parent = cmd.aliases[0] if cmd.aliases and not cmd.aliases[0].startswith("#") else cmd.name
    return tuple(f"{parent} {alias}" for alias in sub.aliases[:1]) + sub.shortcuts


def _lines(cmd: Command, prefix: str) -> list[HelpLine]:
    lines = []
    if cmd.handler is not None:
        usages = (cmd.usage,) if isinstance(cmd.usage, str) else cmd.usage
        lines += [HelpLine(prefix + usage, cmd.help, cmd.facilitator_only, cmd.group,
                           _words(cmd.aliases, prefix) if index == 0 else "")
                  for index, usage in enumerate(usages)]
    lines += [HelpLine(prefix + s.usage, s.help, s.facilitator_only, s.group,
                       _words(_sub_aliases(cmd, s), prefix)) for s in cmd.sub_order]
    return lines


def _groups(registry: Registry, prefix: str) -> list[dict]:
    """Every help line under its own group: a facilitator subcommand of an everyday
    command (``!rencontre planifier``) is listed with the facilitators' commands."""
    lines = [line for cmd in registry.commands if not cmd.hidden for line in _lines(cmd, prefix)]
    groups = [{"title": title, "lines": [line for line in lines if line.group == title]}
              for title in GROUP_ORDER]
    return [group for group in groups if group["lines"]]


def _one(cmd: Command, prefix: str) -> dict:
    return {"title": prefix + cmd.name, "aliases": _words(cmd.aliases, prefix), "lines": _lines(cmd, prefix)}


@command("aide", aliases=("help",), usage="aide [commande]",
         help="la liste des commandes, ou le détail d'une commande")
def aide(ctx: Context, args: str) -> None:
    prefix = ctx.prefix
    templates_dir = ctx.config.minutes.templates_dir
    if not args:
        ctx.reply(render("aide.md.j2", templates_dir, command=None, groups=_groups(ctx.registry, prefix), prefix=prefix))
        return
    word = args.split()[0].removeprefix(prefix)
    found = ctx.registry.find(word) or ctx.registry.find("#" + word.lstrip("#"))
    if found is not None and found.hidden:  # a shortcut: show the command it belongs to
        found = next(c for c in ctx.registry.commands if any(found.name in s.shortcuts for s in c.sub_order))
    if found is None:
        raise UsageError(f"je ne connais pas la commande « {md_line(excerpt(word))} ».")
    ctx.reply(render("aide.md.j2", templates_dir, command=_one(found, prefix), groups=[], prefix=prefix))
