"""``!cr``: the compte-rendu of a séance — a preview in the room, then the publication.

``!cr [n]`` replies with the draft, which closing a séance also posts (signal
``seance_closed``); ``!cr publier [n]`` posts the final minutes as a
formatted message with the ``.md``, ``.html``, ``.docx`` and ``.pdf`` files (``[minutes]
formats``) and, from the room's second séance, the charts of the météo and of
participation as images and stores them as a new `Publication` version (the web archive serves
them). Re-publishing after corrections makes version 2, 3… and the minutes say so.
Minutes longer than a comfortable message are posted as a summary (header, sections
and their size); the full text is in the files.
"""

from __future__ import annotations

import re

from bot.domain.capture import open_seance
from bot.domain.dates import format_day_fr
from bot.engine.context import Context, Outgoing
from bot.engine.registry import FACILITATORS, UsageError, command, subcommand
from bot.minutes.build import (
    Version,
    build_view,
    last_closed_seance,
    next_version,
    room_timezone,
    seance_by_number,
    seance_of_rencontre,
)
from bot.minutes.charts import Chart
from bot.minutes.export import MEDIA_TYPES, file_name, minutes_env, render_documents
from bot.minutes.render import HEADINGS, render_markdown
from bot.minutes.view import Entry, MinutesView
from bot.storage.models import CalendarFeed, Publication, Rencontre, Seance, SeanceStatus
from bot.support.signals import seance_closed
from bot.support.text import excerpt, md_line, md_link

LONG_MARKDOWN = 15_000  # characters: beyond, the room gets a summary and the files
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
        return open_seance(ctx.session, ctx.room_id) or last_closed_seance(ctx.session, ctx.room_id)
    if match := RENCONTRE_NUMBER.match(text):
        found = seance_of_rencontre(ctx.session, ctx.room_id, int(match["n"]))
        if found is None:
            raise UsageError(f"aucune séance n'a été tenue pour la rencontre #{match['n']} "
                             "(ou cette rencontre n'existe pas).", usage)
        return found
    if match := MINUTES_NUMBER.match(text):
        found = seance_by_number(ctx.session, ctx.room_id, int(match["n"]))
        if found is None:
            raise UsageError(f"il n'y a pas de compte rendu n°{match['n']} dans ce salon.", usage)
        return found
    raise UsageError(f"« {md_line(excerpt(args))} » n'est pas un numéro de rencontre "
                     "(par exemple 4 ou #4) ni de compte rendu (n°3).", usage)


def seance_reference(session, seance: Seance) -> str:
    """How to name this séance in a ``!cr`` command: its rencontre's number, else n°N."""
    rencontre = session.get(Rencontre, seance.rencontre_id) if seance.rencontre_id else None
    return str(rencontre.number) if rencontre else f"n°{seance.number}"


def _no_seance(ctx: Context) -> None:
    prefix = ctx.config.bot.command_prefix
    ctx.reply(f"Aucune séance dans ce salon pour l'instant : ouvrez-en une avec `{prefix}seance ouvrir`.")


# --- summary of long minutes -------------------------------------------------------------------


def _count(entries: tuple[Entry, ...]) -> int:
    return sum(1 + _count(e.children) for e in entries)


def _n(count: int, singular: str, plural: str | None = None) -> str:
    number = f"{count:,}".replace(",", "\u202f")  # French thousands: a narrow no-break space
    return f"{number} {singular if count == 1 else plural or singular + 's'}"


def section_sizes(view: MinutesView) -> list[tuple[str, str]]:
    """(heading, size) of each non-empty section, in order."""
    talk = sum(_count(s.entries) + _count(s.discussion) for s in view.exchanges)
    news = sum(len(s.entries) for s in view.local_news)
    replies = sum(_count(s.discussion) for s in view.local_news)
    actions = sum(len(g.actions) for g in view.actions)
    local = f"{_n(len(view.local_news), 'structure')}, {_n(news, 'actualité')}, {_n(replies, 'réaction')}"
    singular, plural = HEADINGS["objectives"]
    rows = [
        (plural if len(view.objectives) > 1 else singular, _n(len(view.objectives), "objectif")),
        (HEADINGS["agenda"], _n(len(view.agenda), "point")),
        (HEADINGS["present"], _n(len(view.present), "personne")),
        (HEADINGS["excused"], _n(len(view.excused), "personne")),
        (HEADINGS["facilitators"], _n(len(view.facilitators), "personne")),
        (HEADINGS["meteo"], _n(len(view.meteo.answers) if view.meteo else 0, "réponse")),
        (HEADINGS["national_news"], _n(_count(view.national_news), "message")),
        (HEADINGS["regional_news"], _n(_count(view.regional_news), "message")),
        (HEADINGS["local_news"], local),
        (HEADINGS["experiences"], _n(len(view.experiences), "partage")),
        (HEADINGS["exchanges"], f"{_n(len(view.exchanges), 'point')}, {_n(talk, 'message')}"),
        (HEADINGS["questions"], _n(_count(view.questions), "message")),
        (HEADINGS["decisions"], _n(len(view.decisions), "décision")),
        (HEADINGS["actions"], f"{_n(actions, 'action')}, {_n(len(view.actions), 'responsable')}"),
        (HEADINGS["resources"], _n(len(view.resources), "lien")),
        (HEADINGS["next_meetings"], _n(len(view.next_meetings), "date")),
    ]
    filled = (view.objectives, view.agenda, view.present, view.excused, view.facilitators, view.meteo,
              view.national_news, view.regional_news, view.local_news, view.experiences, view.exchanges,
              view.questions, view.decisions, view.actions, view.resources,
              view.next_meetings or view.calendar_url)
    return [row for row, content in zip(rows, filled, strict=True) if content]


def summary_markdown(view: MinutesView, markdown: str, files: str) -> str:
    """The header and the size of each section, for minutes too long for one message."""
    h = view.header
    number = f" n°{h.number}" if h.number else ""
    lines = [f"# {md_line(h.title) + ' — ' if h.title else ''}Compte rendu{number}", ""]
    if h.draft:
        lines += ["**Projet — document provisoire**", ""]
    if h.network_name:
        lines += [f"**{md_line(h.network_name)}**", ""]
    when = ", ".join(md_line(t) for t in (h.date_text, h.hours_text, h.mode_text) if t)
    if when:
        lines += [f"Rencontre du {when}", ""]
    if h.version > 1:
        lines += [f"*Version {h.version}, mise à jour du {md_line(h.updated_text)}*", ""]
    size = _n(len(markdown), "caractère")
    lines += [f"Ce compte rendu est trop long pour un message ({size}) : le texte complet est dans {files}.",
              "", "## Sommaire", ""]
    lines += [f"- {heading}\u00a0: {size}" for heading, size in section_sizes(view)]
    return "\n".join(lines) + "\n"


# --- posting -------------------------------------------------------------------------------------


def _files_text(formats: tuple[str, ...]) -> str:
    if not formats:
        return "l'archive des comptes rendus"
    names = ", ".join(f".{fmt}" for fmt in formats)
    return f"le fichier joint ({names})" if len(formats) == 1 else f"les fichiers joints ({names})"


def archive_url(ctx: Context, number: int, version: int) -> str:
    """The publication in the web archive (bot.services.http), when the room has a feed token."""
    feed = ctx.session.get(CalendarFeed, ctx.room_id)
    if feed is None:
        return ""
    return f"{ctx.config.http.public_url}/minutes/{feed.token}/{number}/{version}.html"


def _draft_footer(ctx: Context, seance: Seance) -> str:
    prefix = ctx.config.bot.command_prefix
    if seance.status == SeanceStatus.OPEN:
        publish = f"closez la séance (`{prefix}seance clore`) puis tapez `{prefix}cr publier`"
    else:
        publish = f"tapez `{prefix}cr publier {seance_reference(ctx.session, seance)}`"
    return (f"\n---\n\n*Ceci est un projet : les messages modifiés ou supprimés dans le salon y sont "
            f"repris. Pour publier le compte rendu, {publish}.*\n")


def post_draft(ctx: Context, seance: Seance, reply: bool = True) -> None:
    """The draft minutes in the room (a summary and the .md file when they are long)."""
    view = build_view(ctx.session, seance, ctx.config, ctx.room, ctx.now, draft=True)
    markdown = render_markdown(view, minutes_env(ctx.config))
    post = ctx.reply if reply else ctx.send
    if len(markdown) <= LONG_MARKDOWN:
        post(markdown + _draft_footer(ctx, seance))
        return
    post(summary_markdown(view, markdown, _files_text(("md",))) + _draft_footer(ctx, seance))
    ctx.upload(file_name(seance.number, "md"), markdown.encode("utf-8"), MEDIA_TYPES["md"])


@command("cr", aliases=("minutes",), usage=USAGE_PREVIEW, facilitator=True, group=FACILITATORS,
         help="aperçu du compte rendu (projet) de la séance en cours, ou de la séance n")
def cr(ctx: Context, args: str) -> None:
    seance = _seance(ctx, args, USAGE_PREVIEW)
    if seance is None:
        _no_seance(ctx)
        return
    post_draft(ctx, seance)


@seance_closed.connect
def draft_on_close(ctx: Context, seance: Seance) -> None:
    """``!seance clore`` (or the automatic close) is followed by the draft minutes."""
    post_draft(ctx, seance, reply=False)


def post_chart(ctx: Context, chart: Chart, filename: str) -> None:
    """A chart as an ``m.image``, uploaded by the outbox like the files; its ``body``
    is the text alternative (Element shows it as the caption)."""
    content = {"msgtype": "m.image", "body": chart.alt, "filename": filename,
               "info": {"mimetype": "image/png", "w": chart.width, "h": chart.height,
                        "size": len(chart.png)}}
    ctx.outgoing.append(Outgoing(ctx.room_id, "m.room.message", content, file_data=chart.png))


CHART_STEMS = ("meteo", "participation")


def _confirmation(ctx: Context, seance: Seance, version: Version, formats: tuple[str, ...]) -> str:
    text = f"✅ Compte rendu n°{seance.number} publié"
    if version.number > 1:
        day = format_day_fr(ctx.now.astimezone(room_timezone(ctx.session, ctx.room_id, ctx.config)).date())
        text += f" : version {version.number}, mise à jour du {day}"
    text += f". Fichiers : {', '.join('.' + f for f in formats)}." if formats else "."
    url = archive_url(ctx, seance.number, version.number)
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
    version = next_version(ctx.session, seance, ctx.now)
    view = build_view(ctx.session, seance, ctx.config, ctx.room, ctx.now, draft=False, version=version)
    formats = ctx.config.minutes.formats
    documents = render_documents(view, minutes_env(ctx.config), pdf="pdf" in formats)
    ctx.session.add(Publication(seance_id=seance.id, version=version.number, published_at=ctx.now,
                                published_by=ctx.sender, markdown=documents.markdown, html=documents.html,
                                docx=documents.docx, pdf=documents.pdf))
    ctx.session.flush()
    long = len(documents.markdown) > LONG_MARKDOWN
    ctx.send(summary_markdown(view, documents.markdown, _files_text(formats)) if long else documents.markdown)
    for fmt in formats:
        ctx.upload(file_name(seance.number, fmt, version.number), documents.data(fmt), MEDIA_TYPES[fmt])
    for stem, chart in zip(CHART_STEMS, documents.charts, strict=False):  # from the 2nd séance
        post_chart(ctx, chart, f"{stem}-cr{seance.number}.png")
    ctx.reply(_confirmation(ctx, seance, version, formats))
