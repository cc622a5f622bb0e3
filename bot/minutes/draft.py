"""The draft minutes in the room: what ``!cr`` answers and what closing a séance posts.

Given the event's Context (the command's, or the auto-close job's): the minutes are
loaded and rendered in its transaction, and the message (with the ``.md`` file when they
are long) is recorded there, for the outbox to send.
"""

from __future__ import annotations

from bot.engine.context import Context
from bot.minutes.export import MEDIA_TYPES, file_name, minutes_env
from bot.minutes.load import build_view, seance_reference
from bot.minutes.render import render_markdown
from bot.minutes.summary import is_long, room_markdown
from bot.storage.models import Seance, SeanceStatus


def post_draft(ctx: Context, seance: Seance, reply: bool = True) -> None:
    """The draft minutes in the room (a summary and the .md file when they are long), in
    reply to the command, or (``reply=False``) as a message of their own."""
    view = build_view(ctx.session, seance, ctx.config, ctx.room, ctx.now, draft=True)
    markdown = render_markdown(view, minutes_env(ctx.config))
    post = ctx.reply if reply else ctx.send
    post(room_markdown(view, markdown, ("md",)) + _footer(ctx, seance))
    if is_long(markdown):
        ctx.upload(file_name(seance.number, "md"), markdown.encode("utf-8"), MEDIA_TYPES["md"])


def _footer(ctx: Context, seance: Seance) -> str:
    """It is a draft, and how to publish it."""
    prefix = ctx.prefix
    if seance.status == SeanceStatus.OPEN:
        publish = f"closez la séance (`{prefix}seance clore`) puis tapez `{prefix}cr publier`"
    else:
        publish = f"tapez `{prefix}cr publier {seance_reference(ctx.session, seance)}`"
    return (f"\n---\n\n*Ceci est un projet : les messages modifiés ou supprimés dans le salon y sont "
            f"repris. Pour publier le compte rendu, {publish}.*\n")
