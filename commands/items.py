"""What everyone posts during a séance: météo, news, shared experiences, actions, resources,
questions, decisions — and the listeners that capture the discussion around them.

Each command stores one item tied to its message and acknowledges it with a ✅
reaction. The handlers *create or update* the item of ``ctx.event_id``, so an edited
command is re-read by the same code (:func:`reinterpret`, with the message's own
event id and time). How edits are read:

- a command edited into another item command (``!info`` → ``!decision``, or a new
  due date) updates the item in place (its number, topic and time are kept);
- a plain message edited into an item command becomes that item, and an item
  command edited into plain text becomes discussion;
- a message edited off the record (``(hors cr) …``), emptied, or into any other command,
  leaves the minutes: edits never run commands;
- a message that gave no item (before the séance, off the record, a refused
  command) stays out when edited: the person sends it again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.domain import attendance, capture, capture_parse
from bot.domain.actions import mark_done
from bot.domain.capture_parse import Capture
from bot.engine.context import Context
from bot.engine.events import Edit, Message, Reaction, Redaction
from bot.engine.registry import (
    DURING_SEANCE,
    Invocation,
    Registry,
    UsageError,
    command,
    find_handler,
    listen,
    parse_invocation,
    refuse_arguments,
    run_handler,
    subcommand,
)
from bot.storage.models import Item, ItemKind, Seance
from bot.support.text import excerpt, md_line

ACTION_NUMBER_RE = re.compile(r"^(?:n°|no|#)?\s*(?P<number>\d{1,6})$", re.IGNORECASE)
# What starts like an action number ("12", "#12", "n°12", "1234567", "12b") must be one.
NUMBER_ATTEMPT_RE = re.compile(r"^(?:(?:n°|no)\s*\d|#|\d)", re.IGNORECASE)


def _no_seance(ctx: Context) -> UsageError:
    prefix = ctx.prefix
    return UsageError("aucune séance n'est ouverte dans ce salon : rien n'a été noté. "
                      f"L'animation l'ouvre avec `{prefix}seance ouvrir`.")


def _seance(ctx: Context) -> Seance:
    """The séance of this message: the open one, or (for an edit) the one it was posted in."""
    seance = capture.seance_for_event(ctx.tx, ctx.room_id, ctx.event_id)
    if seance is None:
        raise _no_seance(ctx)
    return seance


def _text(args: str, what: str = "le texte") -> str:
    if not args.strip():
        raise UsageError(f"{what} est vide.")
    return args.strip()


def _store(ctx: Context, seance: Seance, what: Capture) -> tuple[Item, bool]:
    item, fresh = capture.store(ctx, seance, what)
    if fresh:
        ctx.react(capture.ACK)
    return item, fresh


def _simple(ctx: Context, kind: str, args: str) -> None:
    seance = _seance(ctx)
    _store(ctx, seance, Capture(kind, text=_text(args)))


# --- météo and news ------------------------------------------------------------------------------

@command("meteo", aliases=("weather",), usage="meteo <1-5 ou " + "".join(capture_parse.MOOD_EMOJIS.values()) + "> [texte]", group=DURING_SEANCE,
         help="ma météo du jour : mon humeur et comment va ma cité éducative (une par personne)")
def meteo(ctx: Context, args: str) -> None:
    seance = _seance(ctx)
    parsed = capture_parse.parse_mood(args)
    if parsed is None:
        raise UsageError(f"commencez par votre humeur : {capture_parse.MOOD_CHOICES}.")
    _store(ctx, seance, Capture(ItemKind.METEO, text=parsed[1], mood=parsed[0]))


@command("actu", aliases=("news",), usage="actu <texte>", group=DURING_SEANCE,
         help="une actualité de ma cité éducative (actualités locales, sous ma structure)")
def actu(ctx: Context, args: str) -> None:
    seance = _seance(ctx)
    item, fresh = _store(ctx, seance, Capture(ItemKind.LOCAL_NEWS, text=_text(args)))
    if fresh and not item.structure:
        prefix = ctx.prefix
        ctx.reply("Actualité notée. Pour qu'elle soit rangée sous votre cité éducative dans le "
                  "compte rendu, indiquez votre structure : "
                  f"`{prefix}profil <fonction> ; <structure>`.")


@subcommand("actu", "nationale", aliases=("national",), usage="actu nationale <texte>",
            help="une actualité nationale")
def actu_nationale(ctx: Context, args: str) -> None:
    _simple(ctx, ItemKind.NATIONAL_NEWS, args)


@subcommand("actu", "regionale", aliases=("regional",), usage="actu regionale <texte>",
            help="une actualité du réseau régional")
def actu_regionale(ctx: Context, args: str) -> None:
    _simple(ctx, ItemKind.REGIONAL_NEWS, args)


@command("info", aliases=("#info",), usage="info <texte>", group=DURING_SEANCE,
         help="un point notable, rangé sous le point en cours de l'ordre du jour")
def info(ctx: Context, args: str) -> None:
    _simple(ctx, ItemKind.INFO, args)


@command("question", usage="question <texte>", group=DURING_SEANCE,
         help="une question pour le compte rendu (questions et échanges)")
def question(ctx: Context, args: str) -> None:
    _simple(ctx, ItemKind.QUESTION, args)


@command("decision", aliases=("agreed", "#agreed"), usage="decision <texte>", group=DURING_SEANCE,
         help="une décision prise en séance")
def decision(ctx: Context, args: str) -> None:
    _simple(ctx, ItemKind.DECISION, args)


# --- sharing --------------------------------------------------------------------------------------

@command("partage", aliases=("share",), usage="partage <titre> [— description] [lien]",
         group=DURING_SEANCE, help="présenter une expérience, une action inspirante")
def partage(ctx: Context, args: str) -> None:
    seance = _seance(ctx)
    _store(ctx, seance, capture_parse.parse_share(args))


@command("ressource", aliases=("link", "#link"), usage="ressource <lien> [description]",
         group=DURING_SEANCE, help="partager un lien (http ou https) et dire ce qu'il contient")
def ressource(ctx: Context, args: str) -> None:
    seance = _seance(ctx)
    _store(ctx, seance, capture_parse.parse_resource(args))


# --- actions --------------------------------------------------------------------------------------

@command("action", aliases=("#action",), usage="action <texte> [@personne] [pour <date>]",
         group=DURING_SEANCE,
         help="une action à suivre, avec sa ou son responsable et son échéance")
def action(ctx: Context, args: str) -> None:
    seance = _seance(ctx)
    parsed = capture_parse.parse_action(ctx.room, args, ctx.tz, ctx.now, ctx.mentions,
                                        ctx.formatted_body)
    _store(ctx, seance, parsed)


@subcommand("action", "fait", aliases=("faite", "done"), usage="action fait <numéro>",
            help="marquer une action comme faite (son numéro est dans le compte rendu)")
def action_fait(ctx: Context, args: str) -> None:
    number = _done_number(args)
    if number is None:
        if not args.strip():
            raise UsageError("indiquez le numéro de l'action.")
        _refuse_bad_number(args)
        # Never a guess: "fait <words>" is not turned into an action named "fait …".
        raise UsageError(f"« fait » attend le numéro d'une action (par exemple `!action fait 3`), "
                         f"pas « {md_line(excerpt(args))} ». Pour noter une action, écrivez-la "
                         "sans commencer par « fait » (par exemple `!action faire le point avec …`).")
    item = _action(ctx, number)
    if item.done_at is not None:
        ctx.reply(f"L'action n°{item.action_number} était déjà marquée comme faite.")
        return
    mark_done(ctx.tx, item, ctx.now)
    ctx.react(capture.ACK)


def _refuse_bad_number(args: str) -> None:
    """ "!action fait 1234567" or "fait 12 b" aims at an action: refused, never noted as a new
    action named "fait 1234567"."""
    if NUMBER_ATTEMPT_RE.match(args.strip()):
        raise UsageError(f"« {md_line(excerpt(args))} » n'est pas un numéro d'action "
                         "(par exemple 3, #3 ou n°3 ; il figure dans le compte rendu).")


def _done_number(args: str) -> int | None:
    match = ACTION_NUMBER_RE.match(args.strip())
    return int(match["number"]) if match else None


def _action(ctx: Context, number: int) -> Item:
    """Action ``number`` of the room; the author, the owner or a facilitator may close it."""
    item = capture.action_by_number(ctx.tx, ctx.room_id, number)
    if item is None:
        raise UsageError(f"il n'y a pas d'action n°{number} dans ce salon.")
    if ctx.sender not in (item.sender, item.owner) and not ctx.is_facilitator:
        raise UsageError(f"seule la personne qui a noté l'action n°{number}, sa ou son "
                         "responsable, ou l'animation peut la marquer comme faite.")
    return item


# --- undo -----------------------------------------------------------------------------------------

@command("retirer", aliases=("undo", "#undo"), usage="retirer", group=DURING_SEANCE,
         help="retirer ma dernière contribution de la séance "
              "(l'animation : la dernière de quiconque)")
def retirer(ctx: Context, args: str) -> None:
    refuse_arguments(args)
    seance = capture.open_seance(ctx.tx, ctx.room_id)
    if seance is None:
        raise _no_seance(ctx)
    sender = None if ctx.is_facilitator else ctx.sender
    item = capture.last_item(ctx.tx, seance, sender)
    if item is None:
        raise UsageError("il n'y a rien à retirer : "
                         "vous n'avez encore rien noté dans cette séance.")
    capture.remove_item(ctx.tx, item)
    name = ctx.room.display_name(item.sender)
    author = "" if item.sender == ctx.sender else f" de {md_line(name)}"
    ctx.reply(f"Retiré du compte rendu : {capture.kind_label(item.kind)}{author} "
              f"« {md_line(_summary(item))} ».")


def _summary(item: Item, limit: int = 80) -> str:
    text = " ".join(part for part in (item.title, item.text, item.url) if part) or "(sans texte)"
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- edits: re-reading a message ------------------------------------------------------------------

ITEM_HANDLERS = frozenset({meteo, actu, actu_nationale, actu_regionale, info, question, decision,
                           partage, ressource, action})


def reinterpret(ctx: Context, item: Item, text: str) -> str | None:
    """Apply one version of ``item``'s message (see the module docstring); None when applied.
    A command that refuses it raises its ``UserError`` (with the command's usage), which the
    engine answers as a refused edit; a plain text refused says why (``capture.apply_plain``)."""
    invocation = parse_invocation(text, ctx.prefix, ctx.registry)
    if invocation is None:
        return capture.apply_plain(ctx, item, text)
    target = _item_command(ctx.registry, invocation)
    if target is None:
        capture.remove_item(ctx.tx, item)
        return None
    handler, args, usage = target
    run_handler(ctx, handler, args, usage)
    return None


def _item_command(registry: Registry, invocation: Invocation
                  ) -> tuple[Callable, str, str | tuple[str, ...]] | None:
    """(handler, args, usage) when the invocation is a command that makes an item."""
    declared = registry.find(invocation.word)
    found = find_handler(declared, invocation.args) if declared else None
    if found is None:
        return None
    handler, args, _facilitator, usage = found
    if handler is action_fait and args.strip() and _done_number(args) is None:
        return handler, args, usage                 # refused by action_fait: the item stays
    return (handler, args, usage) if handler in ITEM_HANDLERS else None


def command_text(invocation: Invocation, prefix: str) -> str:
    """The command as it was typed: the item's first version, read again if its edits go."""
    word = invocation.word if invocation.word.startswith("#") else prefix + invocation.word
    return f"{word} {invocation.args}".strip()


# --- listeners ------------------------------------------------------------------------------------

@listen("message")
def on_message(ctx: Context, message: Message) -> None:
    capture.on_message(ctx, message)


@listen("reaction")
def on_reaction(ctx: Context, reaction: Reaction) -> None:
    capture.on_reaction(ctx, reaction)


@listen("command")
def after_command(ctx: Context, invocation: Invocation) -> None:
    """Whoever runs a command during a séance takes part; an item keeps its first version."""
    seance = capture.open_seance(ctx.tx, ctx.room_id)
    if seance is None:
        return
    attendance.mark_present(ctx.tx, seance, ctx.sender, ctx.now)
    item = capture.item_by_event(ctx.tx, ctx.event_id)
    if item is not None:
        typed = command_text(invocation, ctx.prefix)
        capture.remember_original(ctx, item, typed)


@listen("edit")
def on_edit(ctx: Context, edit: Edit) -> None:
    capture.apply_edit(ctx, edit, reinterpret)


@listen("redaction")
def on_redaction(ctx: Context, redaction: Redaction) -> None:
    capture.apply_redaction(ctx, redaction, reinterpret)
