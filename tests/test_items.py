"""Items posted by command during a séance: one test group per kind, good and bad input.

Commands run through the registry (``dispatch``) with the recording Context over a real
temporary database; bad input must raise a French ``UserError`` and store nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlmodel import col, select

from bot.app.wiring import build_core
from bot.engine.events import Message, parse_event
from bot.engine.registry import dispatch, parse_invocation
from bot.matrix.devclient import Pill, message_content
from bot.storage.models import Attendance, Item, ItemEdit, ItemKind, Outbox, Profile, Seance
from bot.support.errors import UserError
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM

QUENTIN = "@quentin:localhost"
_ids = itertools.count(1)
FRIDAY = date(2026, 11, 27)          # NOW is Saturday 21 November 2026


def run(make_ctx, text: str, sender: str = MEMBER, event_id: str | None = None):
    """Run one command as ``sender`` and commit it, like the core would."""
    ctx = make_ctx(sender=sender, event_id=event_id or f"$ev{next(_ids)}")
    dispatch(ctx, parse_invocation(text, "!", ctx.registry))
    ctx.session.commit()
    return ctx


def element_ctx(make_ctx, content: dict, sender: str = MEMBER):
    """A Context for Element's content, with its mentions and HTML as the core sets them."""
    event_id = f"$ev{next(_ids)}"
    source = {"type": "m.room.message", "event_id": event_id, "sender": sender, "content": content}
    message = parse_event(source, ROOM)
    ctx = make_ctx(sender=sender, event_id=event_id)
    ctx = replace(ctx, mentions=message.mentions, formatted_body=message.formatted_body)
    return ctx, message.body


def run_element(make_ctx, content: dict, sender: str = MEMBER):
    """Run Element's content as a command and commit it, like the core would."""
    ctx, body = element_ctx(make_ctx, content, sender)
    dispatch(ctx, parse_invocation(body, "!", ctx.registry))
    ctx.session.commit()
    return ctx


def refused(make_ctx, text: str, sender: str = MEMBER) -> str:
    """Run a command that must be refused; returns the French reason."""
    ctx = make_ctx(sender=sender, event_id=f"$ev{next(_ids)}")
    with pytest.raises(UserError) as caught:
        dispatch(ctx, parse_invocation(text, "!", ctx.registry))
    ctx.session.rollback()
    assert not [o for o in ctx.outgoing if o.event_type == "m.reaction"]
    return caught.value.markdown()


def items(db, kind: str | None = None) -> list[Item]:
    with db.session() as session:
        query = select(Item).order_by(col(Item.created_at), col(Item.id))
        if kind is not None:
            query = query.where(Item.kind == kind)
        return list(session.exec(query))


def open_seance(make_ctx, args: str = "") -> Seance:
    ctx = run(make_ctx, f"!seance ouvrir {args}".strip(), sender=FACILITATOR)
    return ctx.session.exec(select(Seance).order_by(col(Seance.id).desc())).first()


def set_profile(db, user: str, structure: str) -> None:
    with db.session() as session:
        session.add(Profile(user_id=user, role="Chef de projet", structure=structure, updated_at=NOW))


def acked(ctx) -> bool:
    return any(o.event_type == "m.reaction" and o.content["m.relates_to"]["key"] == "✅"
               and o.content["m.relates_to"]["event_id"] == ctx.event_id for o in ctx.outgoing)


@pytest.fixture
def seance(make_ctx):
    return open_seance(make_ctx)


@pytest.fixture
def quentin(room):
    room.joined.add(QUENTIN)
    room.display_names[QUENTIN] = "Quentin Poilvé"
    return QUENTIN


# --- météo ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, mood, rest", [
    ("!meteo 4 Bonne dynamique", 4, "Bonne dynamique"),
    ("!météo 4/5 : ça avance", 4, "ça avance"),
    ("!weather ☀️ Fin de labellisation", 5, "Fin de labellisation"),
    ("!meteo 🌤 sans sélecteur", 4, "sans sélecteur"),
    ("!meteo ⛅", 3, ""),
    ("!METEO 🌧️ - dossiers en retard", 2, "dossiers en retard"),
    ("!meteo ⛈️", 1, ""),
])
def test_meteo_mood_by_number_or_emoji(make_ctx, db, seance, text, mood, rest):
    ctx = run(make_ctx, text)
    [item] = items(db)
    assert (item.kind, item.mood, item.text, item.sender, item.seance_id) == (
        ItemKind.METEO, mood, rest, MEMBER, seance.id)
    assert acked(ctx) and ctx.replies == []   # discreet: a reaction, no message


def test_meteo_is_one_per_person_the_last_one_wins(make_ctx, db, seance):
    run(make_ctx, "!meteo 2 fatigué", event_id="$first")
    run(make_ctx, "!meteo 1 orage", sender=FACILITATOR)
    [before] = items(db, ItemKind.METEO)[:1]
    second = run(make_ctx, "!meteo 4 finalement ça va", event_id="$second")
    meteos = items(db, ItemKind.METEO)
    assert len(meteos) == 2
    mine = next(i for i in meteos if i.sender == MEMBER)
    assert (mine.id, mine.event_id, mine.mood, mine.text) == (before.id, "$second", 4, "finalement ça va")
    assert acked(second)
    with db.session() as session:  # the earlier message's versions went with it
        assert session.get(ItemEdit, "$first") is None
        assert session.get(ItemEdit, "$second").text == "!meteo 4 finalement ça va"


@pytest.mark.parametrize("text", ["!meteo", "!meteo bien", "!meteo 45 personnes", "!meteo 3,5 moyen",
                                  "!meteo 6 super", "!meteo 🌈"])
def test_meteo_without_a_mood_is_refused(make_ctx, db, seance, text):
    assert "humeur" in refused(make_ctx, text)
    assert items(db) == []


# --- news -----------------------------------------------------------------------------------

def test_local_news_are_filed_under_the_structure_at_capture_time(make_ctx, db, seance, quentin):
    set_profile(db, MEMBER, "CE Beauvais")
    set_profile(db, QUENTIN, "CE Soissons")
    first = run(make_ctx, "!actu Fête de quartier le 2 juillet")
    run(make_ctx, "!news COPIL le 23 juin", sender=QUENTIN)
    set_profile_later = "CE Beauvais-Nord"
    with db.session() as session:
        session.get(Profile, MEMBER).structure = set_profile_later
    news = items(db, ItemKind.LOCAL_NEWS)
    assert [(i.sender, i.structure, i.text) for i in news] == [
        (MEMBER, "CE Beauvais", "Fête de quartier le 2 juillet"),
        (QUENTIN, "CE Soissons", "COPIL le 23 juin")]
    assert acked(first) and first.replies == []


def test_local_news_without_structure_is_kept_and_suggests_profil(make_ctx, db, seance):
    ctx = run(make_ctx, "!actu Une nouvelle sans structure")
    [item] = items(db)
    assert (item.kind, item.structure) == (ItemKind.LOCAL_NEWS, "")
    assert acked(ctx) and "!profil" in ctx.replies[0] and "structure" in ctx.replies[0]


@pytest.mark.parametrize("text, kind", [
    ("!actu nationale Guide national d'évaluation", ItemKind.NATIONAL_NEWS),
    ("!actu NATIONAL Guide national d'évaluation", ItemKind.NATIONAL_NEWS),
    ("!actu régionale Rencontre régionale en juin", ItemKind.REGIONAL_NEWS),
    ("!news regionale Rencontre régionale en juin", ItemKind.REGIONAL_NEWS),
])
def test_national_and_regional_news(make_ctx, db, seance, text, kind):
    run(make_ctx, text)
    [item] = items(db)
    assert item.kind == kind and item.text == text.split(None, 2)[2]


@pytest.mark.parametrize("text", ["!actu", "!actu   ", "!actu nationale", "!actu regionale  ", "!info",
                                  "!question", "!decision", "#info", "#agreed"])
def test_empty_text_is_refused(make_ctx, db, seance, text):
    assert "est vide" in refused(make_ctx, text)
    assert items(db) == []


# --- info, question, decision ------------------------------------------------------------------

def test_info_question_decision_go_under_the_current_point(make_ctx, db, seance):
    run(make_ctx, "#info avant tout point")
    run(make_ctx, "!point Échanges sur la mobilisation des parents", sender=FACILITATOR)
    run(make_ctx, "!info S'appuyer sur le milieu associatif")
    run(make_ctx, "!question Comment éviter la logique de guichet ?")
    run(make_ctx, "#agreed Les séances de juin porteront sur les compétences")
    run(make_ctx, "!decision On garde le rythme mensuel", sender=FACILITATOR)
    with db.session() as session:
        topic_id = session.get(Seance, seance.id).current_topic_id
    assert topic_id is not None
    assert [(i.kind, i.topic_id, i.text) for i in items(db)] == [
        (ItemKind.INFO, None, "avant tout point"),
        (ItemKind.INFO, topic_id, "S'appuyer sur le milieu associatif"),
        (ItemKind.QUESTION, topic_id, "Comment éviter la logique de guichet ?"),
        (ItemKind.DECISION, topic_id, "Les séances de juin porteront sur les compétences"),
        (ItemKind.DECISION, topic_id, "On garde le rythme mensuel")]


# --- partage -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, title, description, url", [
    ("L'école des sports — Une offre de 3 à 25 ans. https://www.arras.fr/ecole-des-sports",
     "L'école des sports", "Une offre de 3 à 25 ans.", "https://www.arras.fr/ecole-des-sports"),
    ("Lis avec moi -- lecture parents-enfants", "Lis avec moi", "lecture parents-enfants", ""),
    ("Saint-Quentin - ateliers d'éloquence http://example.org/a?b=1",
     "Saint-Quentin", "ateliers d'éloquence", "http://example.org/a?b=1"),
    ("Fresque graphique <https://zedegrafik.fr>", "Fresque graphique", "", "https://zedegrafik.fr"),
    ("Un titre seul", "Un titre seul", "", ""),
])
def test_partage(make_ctx, db, seance, args, title, description, url):
    ctx = run(make_ctx, f"!partage {args}")
    [item] = items(db)
    assert (item.kind, item.title, item.text, item.url) == (ItemKind.SHARED_EXPERIENCE, title, description, url)
    assert acked(ctx)


@pytest.mark.parametrize("text, reason", [
    ("!partage", "titre"),
    ("!share — description sans titre", "titre"),
    ("!partage Titre — desc ftp://example.org/x", "http"),
    ("!partage Titre — desc www.example.org", "https://"),
    ("!partage Titre htps://example.org", "http"),
    ("!partage Titre — desc https://exemple.org/a\u0007b", "http"),
])
def test_partage_bad_input(make_ctx, db, seance, text, reason):
    assert reason in refused(make_ctx, text)
    assert items(db) == []


# --- ressource -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, url, description", [
    ("https://irev.fr/evaluation Évaluation des cités éducatives",
     "https://irev.fr/evaluation", "Évaluation des cités éducatives"),
    ("Guide-mémo de l'Essonne https://drive.example.org/guide", "https://drive.example.org/guide",
     "Guide-mémo de l'Essonne"),
    ("http://www.reseau-crpv.fr/protocoles.", "http://www.reseau-crpv.fr/protocoles", ""),
])
def test_ressource(make_ctx, db, seance, args, url, description):
    for command in ("!ressource", "!link", "#link"):
        run(make_ctx, f"{command} {args}")
    assert [(i.kind, i.url, i.text) for i in items(db)] == [(ItemKind.RESOURCE, url, description)] * 3


@pytest.mark.parametrize("text", ["!ressource", "!ressource juste une description",
                                  "!ressource javascript:alert(1) piège", "!link ftp://example.org/f",
                                  "!ressource www.example.org sans schéma"])
def test_ressource_without_a_web_link_is_refused(make_ctx, db, seance, text):
    reason = refused(make_ctx, text)
    assert "lien" in reason or "http" in reason
    assert items(db) == []


# --- actions --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, text, owner, due", [
    ("Envoyer la plaquette @Maïta Giraldi pour vendredi", "Envoyer la plaquette", FACILITATOR, FRIDAY),
    ("Envoyer la plaquette @maita giraldi", "Envoyer la plaquette", FACILITATOR, None),
    ("@anabela:localhost relance les écoles pour le 15 décembre", "relance les écoles", MEMBER,
     date(2026, 12, 15)),
    ("Préparer la salle pour la réunion de juin", "Préparer la salle pour la réunion de juin", "", None),
    ("Bilan @Maita Giraldi, pour dans 2 semaines", "Bilan", FACILITATOR, date(2026, 12, 5)),
    ("Écrire à contact@mairie.fr pour fin décembre", "Écrire à contact@mairie.fr", "", date(2026, 12, 31)),
])
def test_action_owner_and_due_date(make_ctx, db, seance, args, text, owner, due):
    ctx = run(make_ctx, f"!action {args}")
    [item] = items(db)
    assert (item.kind, item.text, item.owner, item.due_date) == (ItemKind.ACTION, text, owner, due)
    assert item.action_number == 1 and item.done_at is None and acked(ctx)


@pytest.mark.parametrize("text, reason", [
    ("!action", "vide"),
    ("!action @Maïta Giraldi pour vendredi", "vide"),
    ("!action Relancer @Personne Inconnue", "Personne"),
    ("!action Relancer @Maïta Giraldi et @Anabela De Castro", "une seule"),
    ("#action Relancer pour le 3 janvier 2020", "passé"),
    ("!action Relancer pour hier", "échéance"),
    ("!action Relancer pour 32/13", "échéance"),
])
def test_action_bad_input(make_ctx, db, seance, text, reason):
    assert reason in refused(make_ctx, text)
    assert items(db) == []


MAITA_PILL = Pill(FACILITATOR, "Maïta Giraldi")


@pytest.mark.parametrize("parts, reply_to, owner, text", [
    # Element mentions the replied-to sender too: the pill in the text decides.
    (("!action ", MAITA_PILL, " envoie le bilan"), ("$q", QUENTIN), FACILITATOR, "envoie le bilan"),
    (("!action Appeler ", Pill(QUENTIN, "Quentin"), " pour vendredi"), ("$q", QUENTIN), QUENTIN, "Appeler"),
    # A reply without a pill: the replied-to sender is not an owner unless named.
    (("!action Relancer la mairie",), ("$q", QUENTIN), "", "Relancer la mairie"),
    # My own pill: Element leaves me out of m.mentions, the link still names me.
    (("!action ", Pill(MEMBER, "Anabela De Castro"), " relance la mairie"), None, MEMBER,
     "relance la mairie"),
])
def test_action_owner_from_element_pills(make_ctx, db, seance, quentin, parts, reply_to, owner, text):
    run_element(make_ctx, message_content(MEMBER, *parts, reply_to=reply_to))
    [item] = items(db, ItemKind.ACTION)
    assert (item.owner, item.text) == (owner, text)


def test_action_owner_by_mentioned_name_without_html(make_ctx, db, seance, quentin):
    """A client that sends m.mentions but no HTML: the mentioned member named in the text,
    as a whole name ("Quentin Poilvé" is not in "Quentin Poilvéa")."""
    content = {"msgtype": "m.text", "body": "!action Quentin Poilvé appelle la mairie",
               "m.mentions": {"user_ids": [FACILITATOR, QUENTIN]}}
    run_element(make_ctx, content)
    run_element(make_ctx, {**content, "body": "!action Écrire à Quentin Poilvéa"})
    assert [(i.owner, i.text) for i in items(db, ItemKind.ACTION)] == [
        (QUENTIN, "appelle la mairie"), ("", "Écrire à Quentin Poilvéa")]


def test_action_with_two_pills_is_refused(make_ctx, db, seance, quentin):
    content = message_content(MEMBER, "!action ", MAITA_PILL, " et ", Pill(QUENTIN, "Quentin Poilvé"),
                              " relancent la mairie")
    ctx, body = element_ctx(make_ctx, content)
    with pytest.raises(UserError) as caught:
        dispatch(ctx, parse_invocation(body, "!", ctx.registry))
    ctx.session.rollback()
    assert "une seule" in caught.value.message and items(db) == []


def test_actions_are_numbered_per_room_and_stay_open_until_done(make_ctx, db, seance, room):
    run(make_ctx, "!action Première action")
    run(make_ctx, "!action Deuxième action @Maïta Giraldi")
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    open_seance(make_ctx)
    run(make_ctx, "!action Troisième action")
    assert [i.action_number for i in items(db, ItemKind.ACTION)] == [1, 2, 3]

    # Between séances too: the author, the owner or a facilitator may close an action.
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    done = run(make_ctx, "!action fait 2", sender=FACILITATOR)
    assert acked(done)
    room.joined.add("@autre:localhost")
    assert "seule la personne" in refused(make_ctx, "!action fait 1", sender="@autre:localhost")
    run(make_ctx, "!action done #1")
    assert "pas d'action n°9" in refused(make_ctx, "!action fait 9")
    assert "numéro" in refused(make_ctx, "!action fait")
    states = {i.action_number: i.done_at for i in items(db, ItemKind.ACTION)}
    assert states == {1: NOW, 2: NOW, 3: None}
    again = run(make_ctx, "!action fait 1")
    assert "déjà" in again.replies[0]


def test_action_fait_followed_by_words_is_refused_not_guessed(make_ctx, db, seance):
    # Issue 9: "fait" followed by anything but a known action number is refused.
    answer = refused(make_ctx, "!action fait le point avec la mairie pour vendredi")
    assert "« fait » attend le numéro d'une action" in answer and "!action faire le point" in answer
    assert items(db) == []


@pytest.mark.parametrize("text", ["!action fait 1234567", "!action done 99999999999999999999",
                                  "!action fait 12b", "!action fait #x", "!action fait n°1234567",
                                  "!action fait 1 et 2"])
def test_action_fait_with_a_bad_number_is_refused_not_noted(make_ctx, db, seance, text):
    assert "n'est pas un numéro d'action" in refused(make_ctx, text)
    assert items(db, ItemKind.ACTION) == []


def test_an_edit_into_a_bad_action_number_keeps_the_item(make_ctx, db, seance):
    from bot.engine.events import Edit
    from commands.items import on_edit

    run(make_ctx, "!action Appeler la mairie", event_id="$act")
    ctx = make_ctx(sender=MEMBER, event_id="$edit")
    with pytest.raises(UserError):      # the engine answers it (edit_refused_reply)
        on_edit(ctx, Edit("$edit", ROOM, MEMBER, "$act", "!action fait 1234567", NOW))
    ctx.session.commit()                # nothing was changed before the refusal
    [item] = items(db, ItemKind.ACTION)
    assert item.text == "Appeler la mairie"


# --- retirer --------------------------------------------------------------------------------------

def test_retirer_removes_my_last_item(make_ctx, db, seance):
    run(make_ctx, "!info première")
    run(make_ctx, "!info seconde")
    run(make_ctx, "!info de l'animation", sender=FACILITATOR)
    ctx = run(make_ctx, "!retirer")
    assert [i.text for i in items(db)] == ["première", "de l'animation"]
    assert "seconde" in ctx.replies[0]
    run(make_ctx, "#undo")
    assert [i.text for i in items(db)] == ["de l'animation"]
    assert "rien à retirer" in refused(make_ctx, "!undo")


def test_retirer_with_unexpected_words_removes_nothing(make_ctx, db, seance):
    run(make_ctx, "!info à garder")
    assert "ne prend pas d'argument" in refused(make_ctx, "!retirer la météo de Quentin")
    assert [i.text for i in items(db)] == ["à garder"]


def test_a_facilitator_retire_removes_anyones_last_item(make_ctx, db, seance):
    run(make_ctx, "!info à garder", sender=FACILITATOR, event_id="$keep")
    run(make_ctx, "!action Erreur de saisie", event_id="$wrong")
    ctx = run(make_ctx, "!retirer", sender=FACILITATOR)
    assert [i.text for i in items(db)] == ["à garder"]
    assert "Anabela De Castro" in ctx.replies[0] and "action" in ctx.replies[0]
    with db.session() as session:  # the removed item's versions go with it
        assert [v.event_id for v in session.exec(select(ItemEdit))] == ["$keep"]


# --- outside a séance -----------------------------------------------------------------------------

ITEM_COMMANDS = ["!meteo 4 bien", "!actu une nouvelle", "!actu nationale une nouvelle", "!info un point",
                 "!partage Titre", "!action faire", "!ressource https://example.org", "!question pourquoi ?",
                 "!decision oui", "!retirer", "#info un point", "#link https://example.org"]


@pytest.mark.parametrize("text", ITEM_COMMANDS)
def test_item_commands_outside_a_seance_say_none_is_open(make_ctx, db, text):
    assert "aucune séance n'est ouverte" in refused(make_ctx, text)
    assert items(db) == []


@pytest.mark.parametrize("text", ITEM_COMMANDS[:-3])
def test_item_commands_after_closing_say_none_is_open(make_ctx, db, seance, text):
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    assert "aucune séance n'est ouverte" in refused(make_ctx, text)
    assert items(db) == []


# --- through the core: the answer, the rollback, the presence -------------------------------------

def test_bad_input_through_the_core_is_answered_in_french_and_stores_nothing(config, db, room):
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)

    def say(body, event_id, sender=MEMBER):
        core.handle(Message(event_id, ROOM, sender, body, NOW), room)

    say("!seance ouvrir", "$open", FACILITATOR)
    say("!action Relancer pour le 3 janvier 2020", "$past")
    say("!ressource ftp://example.org", "$badurl")
    say("!meteo super", "$nomood")
    with db.session() as session:
        assert session.exec(select(Item)).all() == []
        replies = {row.source_event_id: row.content["body"] for row in session.exec(select(Outbox))
                   if row.event_type == "m.room.message"}
        present = [row.user_id for row in session.exec(select(Attendance))]
    assert "est déjà passé" in replies["$past"] and "Usage : !action" in replies["$past"]
    assert "Rien n'a été enregistré" in replies["$badurl"]
    assert "humeur" in replies["$nomood"]
    assert present == [FACILITATOR]      # a refused command is rolled back, presence included


def test_a_successful_command_records_presence_and_its_first_version(make_ctx, db, seance):
    ctx = run(make_ctx, "#action Relancer @Maïta Giraldi pour vendredi", event_id="$act")
    with db.session() as session:
        assert session.get(Attendance, (seance.id, MEMBER)).present
        assert session.get(ItemEdit, "$act").text == "#action Relancer @Maïta Giraldi pour vendredi"
        assert session.get(ItemEdit, "$act").edited_at == ctx.now


def test_timestamps_are_aware_utc(make_ctx, db, seance):
    run(make_ctx, "!info un point")
    [item] = items(db)
    assert item.created_at == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
