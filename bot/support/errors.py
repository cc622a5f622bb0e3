"""The one user-error type: bad input refused with a French answer, nothing changed.

Domain code (dates, rencontres, capture, polls, fiches, zones, reminders, e-mail
addresses) raises :class:`UserError` with a plain French sentence that quotes what the
user typed as it was typed; the engine turns any of them into the reply in one place
(``bot.engine.registry.usage_reply``), escaping the sentence for Markdown once, there
(:meth:`UserError.markdown`). A refusal written in Markdown on purpose (a command in
backticks, user text escaped where it is quoted) says so with ``markdown=True``: the
commands' ``UsageError`` is that kind. A Markdown refusal that names a command writes
its prefix as ``{prefix}`` (:data:`PREFIX`): the reply shows the room's configured one.
"""

from __future__ import annotations

from bot.support.text import md_line

Usage = str | tuple[str, ...]
PREFIX = "{prefix}"   # in a Markdown refusal: the configured command prefix


class UserError(ValueError):
    """Bad input. ``message``: French, plain text unless ``markdown``; ``usage``: the usage
    line(s) shown under it (the command's own when None)."""

    def __init__(self, message: str, usage: Usage | None = None, *, markdown: bool = False):
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.is_markdown = markdown

    def markdown(self, prefix: str = "!") -> str:
        """The message as it may be shown in Markdown: plain text is escaped here, once; a
        Markdown one gets the command prefix where it names a command."""
        return self.message.replace(PREFIX, prefix) if self.is_markdown else md_line(self.message)
