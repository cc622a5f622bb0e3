"""The registry of commands: name, aliases, usage, help and permission, declared once.

Nothing registers by being imported: the decorators (:func:`command`, :func:`subcommand`,
:func:`listen`, :func:`receives`) only mark a function with what it declares, and
:meth:`Registry.from_modules` builds a registry from the marks of the modules it is given
(the application's wiring, :mod:`bot.app.wiring`, gives it every module of ``commands``).
The core and each Context carry the registry they run with: no global one.

``!aide`` is generated from it, so help never drifts. Matching is on the exact first
word, case- and accent-insensitive (``!Météo`` = ``!meteo``), never ``startswith``.
Typed errors (:class:`~bot.support.errors.UserError`, :class:`PermissionDenied`) are turned
into French replies here, in one place (:func:`usage_reply`, :func:`edit_refused_reply`).
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable

from bot.engine.context import Context
from bot.support.errors import Usage, UserError
from bot.support.signals import Signal
from bot.support.text import EXCERPT_LIMIT, excerpt, md_code, md_line, normalize

Handler = Callable[[Context, str], None]
HASH_PREFIX = "#"
WORD = re.compile(r"^(?P<word>\S+)(?:\s+(?P<rest>.*))?$", re.DOTALL)

EVERYONE = "Tout le monde"
DURING_SEANCE = "Pendant une séance"
FACILITATORS = "Animation (animateurs et animatrices)"
GROUP_ORDER = (EVERYONE, DURING_SEANCE, FACILITATORS)


class UsageError(UserError):
    """A command's refusal, written in Markdown by the command (a `!command` in backticks,
    user text escaped with ``md_line`` where it is quoted); the usage line is added."""

    def __init__(self, message: str, usage: Usage | None = None):
        super().__init__(message, usage, markdown=True)


def refuse_arguments(args: str) -> None:
    """A command that takes no argument refuses unexpected words instead of acting: for
    ``!seance clore ?`` or ``!agenda nouveau-lien svp`` to close or rotate would be a
    surprise, and a typo of a longer command is likelier than a polite word."""
    if args.strip():
        raise UsageError(f"cette commande ne prend pas d'argument : je ne comprends pas "
                         f"« {md_line(excerpt(args))} ». Tapez-la seule.")


class PermissionDenied(Exception):
    """The sender may not run this command."""


@dataclass
class Subcommand:
    name: str
    aliases: tuple[str, ...]
    usage: str
    help: str
    handler: Handler
    facilitator_only: bool
    group: str = EVERYONE
    shortcuts: tuple[str, ...] = ()   # top-level words for it, e.g. !startmeeting


@dataclass
class Command:
    name: str
    aliases: tuple[str, ...]
    usage: str | tuple[str, ...]
    help: str
    handler: Handler | None
    facilitator_only: bool
    group: str
    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    sub_order: list[Subcommand] = field(default_factory=list)
    hidden: bool = False   # a shortcut to a subcommand: listed on the subcommand's help line


LISTENER_KINDS = ("message", "command", "edit", "reaction", "redaction", "poll_response")


class CommandsError(Exception):
    """The command modules cannot make a registry: start-up stops, naming the module."""


class NoCommandDeclared(CommandsError):
    """A command module declares no command: it was meant to, so start-up stops here,
    naming it, rather than leave its commands answered "Commande inconnue"."""

    def __init__(self, module: str):
        super().__init__(f"the command module {module} declares no command "
                         f"(no @command or @subcommand on a function defined in it)")
        self.module = module


class DuplicateCommandWord(CommandsError):
    """Two commands answer to the same word (name or alias, compared as typed: case and
    accents ignored): which one runs would depend on the order the files are read."""

    def __init__(self, word: str, first: Command, second: Command):
        super().__init__(f"the command word {word!r} of {_where(second)} is already "
                         f"{_where(first)}'s")
        self.word = word


def _where(command: Command) -> str:
    handler = command.handler or next(iter(command.subcommands.values())).handler
    return f"{handler.__module__} (!{command.name})"


class Registry:
    """The commands, listeners and signal receivers one bot runs with."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self._by_word: dict[str, Command] = {}
        self.listeners: dict[str, list[Callable]] = {kind: [] for kind in LISTENER_KINDS}
        self.receivers: dict[Signal, list[Callable[..., None]]] = {}

    @classmethod
    def from_modules(cls, modules: Iterable[ModuleType]) -> Registry:
        """A registry of what ``modules`` declare, in their order; raises
        :class:`NoCommandDeclared` for a module that declares no command."""
        registry = cls()
        for module in modules:
            if registry.load(module) == 0:
                raise NoCommandDeclared(module.__name__)
        return registry

    def load(self, module: ModuleType) -> int:
        """Add what the functions defined in ``module`` are marked with, in the order the
        marks were written; returns how many commands and subcommands that was. A marked
        function another module imported is not counted twice: only its own module adds it."""
        functions = {id(value): value for value in vars(module).values()
                     if inspect.isfunction(value) and value.__module__ == module.__name__}
        marks = sorted((mark, function) for function in functions.values()
                       for mark in function.__dict__.get(MARKS, ()))
        for mark, function in marks:
            mark.apply(self, function)
        return sum(mark.declares_command for mark, _function in marks)

    def add_listener(self, kind: str, listener: Callable) -> None:
        if listener not in self.listeners[kind]:
            self.listeners[kind].append(listener)

    def notify(self, kind: str, ctx: Context, record: object) -> None:
        for listener in self.listeners[kind]:
            listener(ctx, record)

    def connect(self, signal: Signal, receiver: Callable[..., None]) -> None:
        """``receiver`` runs on each ``signal.send(ctx, …)`` made with this registry's
        Contexts; connecting twice is a no-op."""
        receivers = self.receivers.setdefault(signal, [])
        if receiver not in receivers:
            receivers.append(receiver)

    def receivers_of(self, signal: Signal) -> list[Callable[..., None]]:
        return self.receivers.get(signal, [])

    def add(self, command: Command) -> Command:
        for word in (command.name, *command.aliases):
            key = normalize(word)
            if key in self._by_word:
                raise DuplicateCommandWord(word, self._by_word[key], command)
            self._by_word[key] = command
        self.commands.append(command)
        return command

    def find(self, word: str) -> Command | None:
        return self._by_word.get(normalize(word))

    def words(self) -> list[str]:
        return list(self._by_word)

    def add_command(self, handler: Handler, name: str, *, usage: str | tuple[str, ...], help: str,
                    aliases: tuple[str, ...] = (), facilitator: bool = False,
                    group: str = EVERYONE) -> None:
        """The command ``!name``; it completes the entry a subcommand may have made first."""
        existing = self.find(name)
        if existing is not None and existing.handler is None:
            existing.handler, existing.usage, existing.help = handler, usage, help
            return
        self.add(Command(name, aliases, usage, help, handler, facilitator, group))

    def add_subcommand(self, handler: Handler, parent: str, name: str, *, usage: str, help: str,
                       aliases: tuple[str, ...] = (), facilitator: bool = False,
                       group: str | None = None, shortcuts: tuple[str, ...] = ()) -> None:
        """``!parent name …`` with its own usage and permission; ``shortcuts`` are
        top-level words running it directly (MeetBot's ``!startmeeting``)."""
        command = self.find(parent) or self.add(
            Command(parent, (), "", "", None, False, group or EVERYONE))
        # Help lists a line with its audience: facilitators', else the parent's.
        line_group = group or (FACILITATORS if facilitator else command.group)
        sub = Subcommand(name, aliases, usage, help, handler, facilitator, line_group, shortcuts)
        for word in (name, *aliases):
            command.subcommands[normalize(word)] = sub
        command.sub_order.append(sub)
        for word in shortcuts:
            self.add(Command(word, (), usage, help, handler, facilitator, group, hidden=True))


# --- the marks: what a decorator records on a function, for Registry.load ---------------------

MARKS = "__maillage_marks__"
_WRITTEN = itertools.count()   # orders the marks of one module as they were written


@dataclass(frozen=True, order=True)
class Mark:
    written: int
    declares_command: bool = field(compare=False)
    apply: Callable[[Registry, Callable], None] = field(compare=False)


def _marker(declares_command: bool, apply: Callable[[Registry, Callable], None]
            ) -> Callable[[Callable], Callable]:
    """A decorator recording ``apply`` on the function, unchanged otherwise."""

    def mark(function: Callable) -> Callable:
        function.__dict__.setdefault(MARKS, []).append(Mark(next(_WRITTEN), declares_command, apply))
        return function

    return mark


def command(name: str, *, usage: str | tuple[str, ...], help: str, aliases: tuple[str, ...] = (),
            facilitator: bool = False, group: str = EVERYONE) -> Callable[[Handler], Handler]:
    """Decorator declaring the command ``!name`` (see :meth:`Registry.add_command`)."""
    return _marker(True, lambda registry, handler: registry.add_command(
        handler, name, usage=usage, help=help, aliases=aliases, facilitator=facilitator, group=group))


def subcommand(parent: str, name: str, *, usage: str, help: str, aliases: tuple[str, ...] = (),
               facilitator: bool = False, group: str | None = None,
               shortcuts: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Decorator declaring ``!parent name …`` (see :meth:`Registry.add_subcommand`)."""
    return _marker(True, lambda registry, handler: registry.add_subcommand(
        handler, parent, name, usage=usage, help=help, aliases=aliases, facilitator=facilitator,
        group=group, shortcuts=shortcuts))


def listen(kind: str) -> Callable[[Callable], Callable]:
    """Decorator for ``fn(ctx, record)`` called on every event of that kind, in the
    event's transaction: "message" (a text that is not a command), "command" (after
    a command succeeded), "edit", "reaction", "redaction", "poll_response" (a vote)."""
    if kind not in LISTENER_KINDS:
        raise ValueError(f"unknown listener kind {kind!r}")
    return _marker(False, lambda registry, listener: registry.add_listener(kind, listener))


def receives(signal: Signal) -> Callable[[Callable], Callable]:
    """Decorator for a receiver of ``signal`` (see :mod:`bot.support.signals`)."""
    return _marker(False, lambda registry, receiver: registry.connect(signal, receiver))


@dataclass(frozen=True)
class Invocation:
    word: str
    args: str


def parse_invocation(body: str, prefix: str, registry: Registry) -> Invocation | None:
    """``!word args`` (or MeetBot's ``#word args``, when ``registry`` knows ``#word``) →
    Invocation; plain text → None."""
    text = body.strip()
    if text.startswith(prefix):
        rest = text[len(prefix):]
        match = WORD.match(rest)
        return Invocation(match["word"], (match["rest"] or "").strip()) if match else None
    if text.startswith(HASH_PREFIX):
        match = WORD.match(text)
        if match and registry.find(match["word"]) is not None:
            return Invocation(match["word"], (match["rest"] or "").strip())
    return None


def resolve(command: Command, args: str) -> tuple[Handler, str, bool, str | tuple[str, ...]]:
    """Pick the subcommand named by the first argument, if any."""
    found = find_handler(command, args)
    if found is None:
        raise UsageError("il manque la sous-commande.", _usages(command))
    return found


def find_handler(command: Command, args: str
                 ) -> tuple[Handler, str, bool, str | tuple[str, ...]] | None:
    """What :func:`resolve` picks; None where it refuses (a subcommand is needed, none named)."""
    match = WORD.match(args)
    if match and command.subcommands:
        sub = command.subcommands.get(normalize(match["word"]))
        if sub is not None:
            return sub.handler, (match["rest"] or "").strip(), sub.facilitator_only, sub.usage
    if command.handler is None:
        return None
    return command.handler, args, command.facilitator_only, command.usage


def _usages(command: Command) -> tuple[str, ...]:
    return tuple(s.usage for s in command.sub_order)


def format_usage(usage: str | tuple[str, ...], prefix: str) -> str:
    """Usage lines are declared without the prefix; show them with the room's one."""
    lines = (usage,) if isinstance(usage, str) else usage
    return " ou ".join(f"`{prefix}{line}`" for line in lines)


def unknown_command_reply(word: str, prefix: str, registry: Registry) -> str:
    close = difflib.get_close_matches(normalize(excerpt(word)), registry.words(), n=1)
    hint = f" Vouliez-vous dire `{prefix}{close[0]}` ?" if close else ""
    return (f"Commande inconnue : {md_code(prefix + excerpt(word))}.{hint} "
            f"Tapez `{prefix}aide` pour la liste des commandes.")


# A quotation in a refusal longer than this (escaped Markdown) is cut, whichever module
# wrote the message: a safety net behind the excerpt() of each refusal.
LONG_QUOTE = re.compile(r"« (?P<quoted>[^«»]{%d,}) »" % (2 * EXCERPT_LIMIT))
PARTIAL_ESCAPE = re.compile(r"(?:&[#\w]*|\\+)$")   # an entity or backslash cut in half


def shorten_quotes(message: str) -> str:
    """Every « … » quotation cut to about EXCERPT_LIMIT characters, ending with "…"."""
    def cut(match: re.Match[str]) -> str:
        head = PARTIAL_ESCAPE.sub("", match["quoted"][:EXCERPT_LIMIT]).rstrip()
        return f"« {head}… »"

    return LONG_QUOTE.sub(cut, message)


def usage_reply(error: UserError, prefix: str) -> str:
    """The reply to a refused command or message: the reason, the usage, nothing saved."""
    message = shorten_quotes(error.markdown())
    lines = [f"⚠️ {message[:1].upper()}{message[1:]}"]
    if error.usage:
        lines.append(f"Usage : {format_usage(error.usage, prefix)}")
    lines.append(f"Rien n'a été enregistré. Aide : `{prefix}aide`")
    return "  \n".join(lines)


def edit_refused_reply(error: UserError, usage: Usage | None, prefix: str) -> str:
    """The reply to an edit whose new text is refused: the item keeps its previous version."""
    lines = [f"⚠️ Modification non prise en compte : {shorten_quotes(error.markdown())}"]
    if usage:
        lines.append(f"Usage : {format_usage(usage, prefix)}")
    lines.append("Le compte rendu garde la version précédente de ce message.")
    return "  \n".join(lines)


PERMISSION_REPLY = ("Désolé, cette commande est réservée à l'animation du réseau "
                    "(niveau de pouvoir suffisant dans le salon). Rien n'a été modifié.")


def dispatch(ctx: Context, invocation: Invocation) -> None:
    """Run one command of ``ctx.registry``; typed errors propagate to the caller, which
    rolls back and replies."""
    found = ctx.registry.find(invocation.word)
    if found is None:
        ctx.reply(unknown_command_reply(invocation.word, ctx.config.bot.command_prefix, ctx.registry))
        return
    handler, args, facilitator_only, usage = resolve(found, invocation.args)
    if facilitator_only and not ctx.is_facilitator:
        raise PermissionDenied()
    run_handler(ctx, handler, args, usage)
    ctx.registry.notify("command", ctx, invocation)


def run_handler(ctx: Context, handler: Handler, args: str, usage: Usage) -> None:
    """Run a resolved handler (a command, or an edited message re-read by its command). A
    :class:`~bot.support.errors.UserError` it raises propagates with the command's usage
    (unless it names its own): the caller's caller, the core, rolls back and replies."""
    try:
        handler(ctx, args)
    except UserError as error:
        if error.usage is None:
            error.usage = usage
        raise
