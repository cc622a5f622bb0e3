"""``!cr``: the compte-rendu of a séance — a preview in the room, then the publication.

``!cr [n]`` replies with the draft, which closing a séance also posts (signal
``seance_closed``; both through ``bot.minutes.draft``); ``!cr publier [n]`` posts the final minutes as a
formatted message with the ``.md``, ``.html``, ``.docx`` and ``.pdf`` files (``[minutes]
formats``) and, from the room's second séance, the charts of the météo and of
participation as images and stores them as a new `Publication` version (the web archive serves
them). Re-publishing after corrections makes version 2, 3… and the minutes say so.
Minutes longer than a comfortable message are posted as a summary (header, sections
and their size, `bot.minutes.summary`); the full text is in the files.
"""

from __future__ import annotations

import re

from bot.domain.capture import open_seance
from bot.domain.dates import format_day_fr
from bot.engine.context import Context
from bot.engine.registry import FACILITATORS, UsageError, command, receives, subcommand
from bot.minutes.archive import archive_url, next_version, store_publication
from bot.minutes.build import Version
from bot.minutes.charts import Chart
from bot.minutes.draft import post_draft
from bot.minutes.export import MEDIA_TYPES, file_name, minutes_env, render_documents
from bot.minutes.load import (
    build_view,
    last_closed_seance,
    seance_by_number,
    seance_of_rencontre,
)
from bot.minutes.summary import room_markdown
from bot.storage.models import Seance, SeanceStatus
from bot.support.signals import seance_closed
from bot.support.text import excerpt, md_line, md_link

USAGE_PREVIEW = "cr [n]"
USAGE_PUBLISH = "cr publier [n]"
# DESIGN §2: ``n`` is a rencontre's number (``4``, ``#4``); ``n°3`` names a compte rendu
# (the only way to reach an ad-hoc séance, bound to no rencontre).
RENCONTRE_NUMBER = re.compile(r"^#?\s*(?P<n>\d{1,6})$")
MINUTES_NUMBER = re.compile(r"^(?:n°|no\.?|cr)\s*(?P<n>\d{1,6})$", re.IGNORECASE)


# --- which séance ----------------------------------------------------------------------------


def _seance(ctx: Context, args: str, usage: str) -> Seance | None:
    """The séance of rencontre ``n``, or compte rendu ``n°N``; without an argument, the
    open séance, else the last closed one."""
    text = args.strip()
    if not text:
        return open_seance(ctx.tx, ctx.room_id) or last_closed_seance(ctx.tx, ctx.room_id)
    if match := RENCONTRE_NUMBER.match(text):
        found = seance_of_rencontre(ctx.tx, ctx.room_id, int(match["n"]))
        if found is None:
            raise UsageError(f"aucune séance n'a été tenue pour la rencontre #{match['n']} "
                             "(ou cette rencontre n'existe pas).", usage)
        return found
    if match := MINUTES_NUMBER.match(text):
        found = seance_by_number(ctx.tx, ctx.room_id, int(match["n"]))
        if found is None:
            raise UsageError(f"il n'y a pas de compte rendu n°{match['n']} dans ce salon.", usage)
        return found
    raise UsageError(f"« {md_line(excerpt(args))} » n'est pas un numéro de rencontre "
                     "(par exemple 4 ou #4) ni de compte rendu (n°3).", usage)


def _no_seance(ctx: Context) -> None:
    prefix = ctx.config.bot.command_prefix
    ctx.reply(f"Aucune séance dans ce salon pour l'instant : ouvrez-en une avec `{prefix}seance ouvrir`.")


# --- posting -------------------------------------------------------------------------------------


@command("cr", aliases=("minutes",), usage=USAGE_PREVIEW, facilitator=True, group=FACILITATORS,
         help="aperçu du compte rendu (projet) de la séance en cours, ou de la séance n")
def cr(ctx: Context, args: str) -> None:
    seance = _seance(ctx, args, USAGE_PREVIEW)
    if seance is None:
        _no_seance(ctx)
        return
    post_draft(ctx, seance)


@receives(seance_closed)
def draft_on_close(ctx: Context, seance: Seance) -> None:
    """``!seance clore`` (or the automatic close) is followed by the draft minutes."""
    post_draft(ctx, seance, reply=False)


def post_chart(ctx: Context, chart: Chart, filename: str) -> None:
    """A chart as an ``m.image``, its text alternative as the caption."""
    ctx.post_image(filename, chart.png, alt=chart.alt, width=chart.width, height=chart.height)


CHART_STEMS = ("meteo", "participation")


def _confirmation(ctx: Context, seance: Seance, version: Version, formats: tuple[str, ...]) -> str:
    text = f"✅ Compte rendu n°{seance.number} publié"
    if version.number > 1:
        day = format_day_fr(ctx.now.astimezone(ctx.tz).date())
        text += f" : version {version.number}, mise à jour du {day}"
    text += f". Fichiers : {', '.join('.' + f for f in formats)}." if formats else "."
    url = archive_url(ctx.tx, ctx.config, ctx.room_id, seance.number, version.number)
    return text + (f"  \nArchive web : {md_link(url, url)}" if url else "")


@subcommand("cr", "publier", aliases=("publish",), usage=USAGE_PUBLISH, facilitator=True,
            help="publier le compte rendu : message mis en forme et fichiers .md, .html, .docx, .pdf "
                 "(après des corrections : nouvelle version)")
def cr_publier(ctx: Context, args: str) -> None:
    seance = _seance(ctx, args, USAGE_PUBLISH)
    if seance is None:
        _no_seance(ctx)
        return
    prefix = ctx.config.bot.command_prefix
    if seance.status == SeanceStatus.OPEN:
        raise UsageError(f"la séance n°{seance.number} est encore ouverte : closez-la d'abord avec "
                         f"`{prefix}seance clore` (aperçu : `{prefix}cr`).", USAGE_PUBLISH)
    version = next_version(ctx.tx, seance, ctx.now)
    view = build_view(ctx.tx, seance, ctx.config, ctx.room, ctx.now, draft=False, version=version)
    formats = ctx.config.minutes.formats
    documents = render_documents(view, minutes_env(ctx.config), pdf="pdf" in formats)
    store_publication(ctx.tx, seance, version, documents, ctx.sender, ctx.now)
    ctx.send(room_markdown(view, documents.markdown, formats))
    for fmt in formats:
        ctx.upload(file_name(seance.number, fmt, version.number), documents.data(fmt), MEDIA_TYPES[fmt])
    for stem, chart in zip(CHART_STEMS, documents.charts, strict=False):  # from the 2nd séance
        post_chart(ctx, chart, f"{stem}-cr{seance.number}.png")
    ctx.reply(_confirmation(ctx, seance, version, formats))
