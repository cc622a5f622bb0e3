"""The one user-error type: bad input refused with a French answer, nothing changed.

Domain code (dates, rencontres, capture, polls, fiches, zones, reminders, e-mail
addresses) raises :class:`UserError` with a plain French sentence that quotes what the
user typed as it was typed; the engine turns any of them into the reply in one place
(``bot.engine.registry.usage_reply``), escaping the sentence for Markdown once, there
(:meth:`UserError.markdown`). A refusal written in Markdown on purpose (a command in
backticks, user text escaped where it is quoted) says so with ``markdown=True``: the
commands' ``UsageError`` is that kind.
"""

from __future__ import annotations

from bot.support.text import md_line

Usage = str | tuple[str, ...]


class UserError(ValueError):
    """Bad input. ``message``: French, plain text unless ``markdown``; ``usage``: the usage
    line(s) shown under it (the command's own when None)."""

    def __init__(self, message: str, usage: Usage | None = None, *, markdown: bool = False):
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.is_markdown = markdown

    def markdown(self) -> str:
        """The message as it may be shown in Markdown: plain text is escaped here, once."""
        return self.message if self.is_markdown else md_line(self.message)
