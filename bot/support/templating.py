"""The Jinja2 environment for every template (help, announcements, minutes).

Templates come from ``[minutes] templates_dir`` first (overrides by file name), then
from the packaged ``templates/``. User text is only ever passed as data: the
environment is sandboxed, undefined names fail loudly, HTML is autoescaped.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.support.richtext import rich_html, rich_markdown
from bot.support.text import br, link, md, md_line, md_link

PACKAGED_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@lru_cache(maxsize=8)
def template_env(templates_dir: Path | None = None) -> ImmutableSandboxedEnvironment:
    loaders = [FileSystemLoader(str(templates_dir))] if templates_dir else []
    loaders.append(FileSystemLoader(str(PACKAGED_TEMPLATES)))
    env = ImmutableSandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md, md_line=md_line, md_link=md_link, br=br, link=link,
                       md_rich=rich_markdown, html_rich=rich_html)
    return env


def render(name: str, templates_dir: Path | None = None, **data: object) -> str:
    return template_env(templates_dir).get_template(name).render(**data)
