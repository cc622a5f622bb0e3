"""The command registry: exact-word, accent/case-insensitive matching; generated help;
typed errors turned into French replies that change nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.app.wiring import build_core
from bot.engine.core import SET_ASIDE_AFTER, EventRetry
from bot.engine.events import Message
from bot.engine.registry import (
    UsageError,
    edit_refused_reply,
    parse_invocation,
    shorten_quotes,
    usage_reply,
)
from bot.storage.models import Outbox, Profile
from bot.support.errors import UserError
from tests.conftest import MEMBER, NOW, ROOM


def test_matching_is_exact_word_and_accent_insensitive(registry):
    assert registry.find("PROFIL") is registry.find("profile") is registry.find("profil")
    assert registry.find("profils") is None  # no startswith matching
    assert registry.find("Aidé") is registry.find("aide")
    assert parse_invocation("!aide   profil", "!", registry).args == "profil"
    assert parse_invocation("bonjour !aide", "!", registry) is None
    assert parse_invocation("#hashtag quelconque", "!", registry) is None  # only registered #aliases


def test_every_command_has_usage_and_help_in_the_generated_help(make_ctx, registry):
    ctx = make_ctx()
    registry.find("aide").handler(ctx, "")
    help_text = ctx.replies[0]
    for command in registry.commands:
        if command.handler is not None:
            usages = (command.usage,) if isinstance(command.usage, str) else command.usage
            for usage in usages:
                assert "!" + usage in help_text
        for sub in command.sub_order:
            assert "!" + sub.usage in help_text and sub.help in help_text


def handle(core, room, body, event_id, sender=MEMBER):
    return core.handle(Message(event_id, ROOM, sender, body, NOW), room)


def outbox_bodies(db):
    with db.session() as session:
        return [row.content["body"] for row in session.exec(select(Outbox).order_by(Outbox.id))]


def test_bad_input_gets_a_french_answer_and_changes_nothing(config, db, room):
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    handle(core, room, "!profil Cheffe de projet ; CE Beauvais", "$ok")
    handle(core, room, "!profil ; CE Soissons", "$empty")          # empty function
    handle(core, room, "!profil " + "x" * 200 + " ; CE", "$long")  # too long
    handle(core, room, "!profil nom", "$noname")
    handle(core, room, "!inconnue", "$unknown")
    handle(core, room, "!aide " + "y" * 30_000, "$huge")
    with db.session() as session:
        profile = session.get(Profile, MEMBER)
        assert (profile.role, profile.structure, profile.full_name) == (
            "Cheffe de projet", "CE Beauvais", "")
    bodies = outbox_bodies(db)
    assert len(bodies) == 6
    assert "La fonction est vide" in bodies[1] and "Usage : !profil <fonction> ; <structure>" in bodies[1]
    assert "trop long" in bodies[2]
    assert "Le nom est vide" in bodies[3]
    assert bodies[4].startswith("Commande inconnue : !inconnue.") and "!aide" in bodies[4]
    assert "Ce message est trop long (30006 caractères" in bodies[5]
    assert all("Rien n'a été enregistré" in b for b in bodies[1:4])


def test_refusals_quote_at_most_an_excerpt(config, db, room):
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    handle(core, room, "!aide " + "y" * 19_900, "$aide")
    handle(core, room, "!" + "w" * 19_900, "$unknown")
    handle(core, room, "!abonner " + "a@" * 9_000, "$mail")   # quoted by bot.calendar.mailer
    bodies = outbox_bodies(db)
    assert len(bodies) == 3
    assert all(len(body) < 500 and "…" in body for body in bodies), [len(b) for b in bodies]


def test_shorten_quotes_cuts_long_quotations_without_breaking_an_escape():
    assert shorten_quotes("« court »") == "« court »"
    cut = shorten_quotes("le lien « " + "&amp;" * 100 + " » est faux")
    assert cut.endswith("&amp;… » est faux") and len(cut) < 120


def test_a_user_error_is_escaped_once_where_it_becomes_the_reply():
    """Domain code writes plain text (escaped by the engine); a command's UsageError is
    Markdown already (left as written)."""
    plain = UserError("la clé « *gras* `code` » est inconnue.")
    written = UsageError("« \\*gras\\* » est inconnu : tapez `!aide`.")
    assert usage_reply(plain, "!").startswith("⚠️ La clé « \\*gras\\* \\`code\\` » est inconnue.")
    assert usage_reply(written, "!").startswith("⚠️ « \\*gras\\* » est inconnu : tapez `!aide`.")
    assert edit_refused_reply(plain, "fiche", "!").startswith(
        "⚠️ Modification non prise en compte : la clé « \\*gras\\* \\`code\\` » est inconnue.  \n"
        "Usage : `!fiche`")


def test_a_domain_refusal_quotes_the_input_escaped_once(config, db, room):
    """Not escaped, *b* would be emphasis; escaped twice, backslashes would show."""
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    handle(core, room, "!abonner a*b*c", "$mail")     # refused by bot.calendar.mailer
    with db.session() as session:
        content = session.exec(select(Outbox)).one().content
    assert content["body"].startswith("⚠️ « a*b*c » n'est pas une adresse e-mail"), content
    assert "« a*b*c »" in content["formatted_body"], content
    assert "<em>" not in content["formatted_body"] and "\\" not in content["formatted_body"]
    assert "Usage : !abonner [e-mail]" in content["body"]


def test_template_and_markup_in_input_are_inert(config, db, room):
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    handle(core, room, "!profil {{ 7*7 }} <script>alert(1)</script> ; **CE** {% raw %}", "$x")
    with db.session() as session:
        row = session.exec(select(Outbox)).one()
    html = row.content["formatted_body"]
    assert "<script" not in html and "{{ 7*7 }}" in html and "49" not in html
    assert "<strong>CE</strong>" not in html and "{% raw %}" in row.content["body"]


def test_each_event_is_handled_once(config, db, room):
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    assert handle(core, room, "!aide", "$same") == 1
    assert handle(core, room, "!aide", "$same") == 0
    assert len(outbox_bodies(db)) == 1


def test_facilitator_rights(config, room):
    core = build_core(config, None, "@maillage:localhost")
    assert core.is_facilitator(room, "@maita:localhost")
    assert not core.is_facilitator(room, MEMBER)
    room.room_version, room.creators = "12", frozenset({MEMBER})
    assert core.is_facilitator(room, MEMBER)          # v12 creator: infinite power
    room.room_version = "11"
    assert not core.is_facilitator(room, MEMBER)      # v11: creators have no special power


def test_a_crashing_listener_is_retried_then_set_aside_without_stopping_the_bot(config, db, room, caplog):
    from bot.storage.models import ProcessedEvent

    def boom(ctx, record):
        ctx.session.add(Profile(user_id="@ghost:localhost", updated_at=NOW))
        raise RuntimeError("bug")

    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    core.registry.listeners["message"].insert(0, boom)
    try:
        # A crash may be an outage in disguise: retried (the sync loop replays the batch),
        # then set aside once it has failed the same way SET_ASIDE_AFTER times in a row.
        for _ in range(SET_ASIDE_AFTER - 1):
            with pytest.raises(EventRetry):
                handle(core, room, "un message", "$poison")
        assert handle(core, room, "un message", "$poison") == 0
        assert "event set aside" in caplog.text
    finally:
        core.registry.listeners["message"].remove(boom)
    assert handle(core, room, "!aide", "$next") == 1
    with db.session() as session:
        assert session.get(ProcessedEvent, "$poison") is not None   # not replayed forever
        assert session.get(Profile, "@ghost:localhost") is None      # its changes rolled back


def test_profile_hint_names_only_what_is_missing(make_ctx, registry):
    ctx = make_ctx()
    registry.find("profil").subcommands["nom"].handler(ctx, "Mme De Castro Anabela")
    assert "!profil <fonction> ; <structure>" in ctx.replies[-1] and "!profil nom" not in ctx.replies[-1]
    registry.find("profil").handler(ctx, "Cheffe de projet ; CE Beauvais")
    assert "Pour compléter" not in ctx.replies[-1]
