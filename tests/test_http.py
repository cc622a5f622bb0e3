"""The embedded HTTP server, fetched over real HTTP from the running service.

Calendar feed per room (parsed by ical.js and vobject), conditional requests, token
revocation, and the minutes archive with rows inserted here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from multidict import CIMultiDict
from pypdf import PdfReader
from sqlmodel import select
from yarl import URL

from bot.calendar import invites as calendar
from bot.engine.registry import dispatch, parse_invocation
from bot.ops.devserver import free_port
from bot.services import http
from bot.storage.models import Publication, Rencontre, RencontreStatus, Seance
from tests.conftest import FACILITATOR, NOW, ROOM, make_config
from tests.icalcheck import check_rules, parse_both
from tests.servicehost import FakeHost

PARIS = ZoneInfo("Europe/Paris")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, http={"host": "127.0.0.1", "port": free_port(),
                                       "public_url": "https://maillage.reseau-cpo.test"})


@pytest.fixture
async def server(config, db):
    """The ``bot.services.http`` service running as the runtime runs it; yields its base URL."""
    host = FakeHost(config, db, now=NOW)
    task = asyncio.create_task(http.run(host))
    base = f"http://127.0.0.1:{config.http.port}"
    async with aiohttp.ClientSession() as client:
        for _ in range(100):
            try:
                async with client.get(f"{base}/"):
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    yield base
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def get(url: str, **headers) -> tuple[int, CIMultiDict, bytes]:
    async with aiohttp.ClientSession() as client, client.get(
            url, headers=headers, allow_redirects=False) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


def add_rencontres(db) -> None:
    with db.session() as session:
        for number, day, status in [(3, 5, RencontreStatus.CANCELLED), (4, 3, "planned")]:
            session.add(Rencontre(
                room_id=ROOM, number=number, uid=f"rencontre-{number}@localhost",
                title=f"Rencontre {number} ; réseau, CPO", status=status,
                start_at=dt.datetime(2026, 12, day, 14, tzinfo=PARIS),
                end_at=dt.datetime(2026, 12, day, 17, tzinfo=PARIS),
                created_at=NOW, updated_at=NOW + dt.timedelta(minutes=number)))


def token_for(db, room_id: str = ROOM) -> str:
    with db.session() as session:
        return calendar.feed_token(session, room_id, NOW)


# --------------------------------------------------------------------------- the feed


async def test_feed_is_served_and_parses(server, db):
    add_rencontres(db)
    status, headers, body = await get(f"{server}/calendar/{token_for(db)}.ics")

    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert headers["ETag"].startswith('"') and len(headers["ETag"]) >= 34
    assert headers["Last-Modified"] == format_datetime(NOW + dt.timedelta(minutes=4), usegmt=True)
    assert headers["Referrer-Policy"] == "no-referrer"
    check_rules(body, None)
    events = {e["uid"]: e for e in parse_both(body)}
    assert events["rencontre-4@localhost"]["summary"] == "Rencontre 4 ; réseau, CPO"
    assert events["rencontre-4@localhost"]["status"] == "CONFIRMED"
    assert events["rencontre-3@localhost"]["status"] == "CANCELLED"
    assert {e["_method"] for e in events.values()} == {None}
    assert {e["_calname"] for e in events.values()} == {"Cités éducatives des Hauts-de-France"}


async def test_feed_of_each_room_is_its_own(server, db):
    add_rencontres(db)
    status, _, body = await get(f"{server}/calendar/{token_for(db, '!autre:localhost')}.ics")
    assert status == 200 and parse_both(body) == []


@pytest.mark.parametrize("path", [
    "/calendar/inconnu.ics", "/calendar/.ics", "/calendar/{token}x.ics", "/calendar/{token}",
    "/calendar/{token}.ics/x", "/minutes/inconnu/", "/minutes/{token}x/", "/minutes/{token}/4/1.pdf",
    "/minutes/{token}/9/1.md", "/", "/calendar/",
])
async def test_unknown_paths_and_tokens_are_404(server, db, path):
    status, _, body = await get(server + path.format(token=token_for(db)))
    assert (status, body) == (404, b"")


async def test_head_request(server, db):
    url = f"{server}/calendar/{token_for(db)}.ics"
    async with aiohttp.ClientSession() as client, client.head(url) as response:
        assert response.status == 200 and response.headers["ETag"]


async def test_conditional_requests(server, db):
    add_rencontres(db)
    url = f"{server}/calendar/{token_for(db)}.ics"
    _, headers, body = await get(url)
    etag, modified = headers["ETag"], headers["Last-Modified"]

    for condition in [{"If-None-Match": etag}, {"If-None-Match": f'"autre", W/{etag}'},
                      {"If-None-Match": "*"}, {"If-Modified-Since": modified}]:
        status, headers304, body304 = await get(url, **condition)
        assert (status, body304) == (304, b""), condition
        assert headers304["ETag"] == etag
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
    status, _, _ = await get(url, **{"If-None-Match": '"autre"', "If-Modified-Since": modified})
    assert status == 200

    with db.session() as session:
        rencontre = session.exec(select(Rencontre).where(Rencontre.number == 4)).one()
        rencontre.title, rencontre.sequence = "Titre changé", 1
        rencontre.updated_at = NOW + dt.timedelta(hours=2)
    status, headers2, body2 = await get(url, **{"If-None-Match": etag})
    assert status == 200 and headers2["ETag"] != etag and body2 != body
    assert "Titre changé" in {e["summary"] for e in parse_both(body2)}
    status, _, _ = await get(url, **{"If-Modified-Since": modified})
    assert status == 200


async def test_new_link_revokes_the_old_token(server, db, config, room):
    from bot.app.wiring import build_registry
    from bot.engine.context import Context

    old = token_for(db)
    assert (await get(f"{server}/calendar/{old}.ics"))[0] == 200
    with db.session() as session:
        ctx = Context(config=config, session=session, room=room, sender=FACILITATOR, event_id="$n",
                      now=NOW, registry=build_registry(), is_facilitator=True)
        dispatch(ctx, parse_invocation("!agenda nouveau-lien", "!", ctx.registry))
    new = token_for(db)
    assert new != old
    assert (await get(f"{server}/calendar/{old}.ics"))[0] == 404
    assert (await get(f"{server}/calendar/{new}.ics"))[0] == 200


async def test_tokens_never_reach_the_log(server, db, caplog):
    caplog.set_level(logging.DEBUG)
    token = token_for(db)
    await get(f"{server}/calendar/{token}.ics")
    await get(f"{server}/minutes/{token}/")
    assert token not in caplog.text


# --------------------------------------------------------------------------- minutes archive


def add_minutes(db) -> None:
    with db.session() as session:
        seance = Seance(room_id=ROOM, number=4, title="Réseau <CPO> & co", opened_at=NOW)
        other_room = Seance(room_id="!autre:localhost", number=5, title="Autre", opened_at=NOW)
        session.add_all([seance, other_room])
        session.flush()
        for version in (1, 2):
            session.add(Publication(seance_id=seance.id, version=version,
                                    published_at=NOW + dt.timedelta(days=version),
                                    markdown=f"# Compte rendu n°4 (v{version})\n",
                                    html=f"<!DOCTYPE html><title>CR 4 v{version}</title>",
                                    docx=b"PK\x03\x04docx" + bytes([version]),
                                    pdf=b"%PDF-stored" if version == 2 else None))
        session.add(Publication(seance_id=other_room.id, version=1, published_at=NOW,
                                markdown="secret", html="secret", docx=b"secret"))


async def test_minutes_index(server, db):
    add_minutes(db)
    token = token_for(db)
    status, headers, body = await get(f"{server}/minutes/{token}/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    page = body.decode()
    assert "Réseau &lt;CPO&gt; &amp; co" in page and "<CPO>" not in page
    for version, day in [(1, "22 novembre 2026"), (2, "23 novembre 2026")]:
        for ext in ("md", "html", "docx", "pdf"):
            assert f'href="4/{version}.{ext}"' in page
        assert day in page
    assert "5/1" not in page  # another room's minutes are not listed

    status, headers, _ = await get(f"{server}/minutes/{token}")
    # relative, so that it also works behind a proxy that serves us under a prefix
    target = URL(f"{server}/minutes/{token}").join(URL(headers["Location"]))
    assert status == 301 and str(target) == f"{server}/minutes/{token}/"


@pytest.mark.parametrize(("ext", "content_type", "expected"), [
    ("md", "text/markdown; charset=utf-8", "# Compte rendu n°4 (v2)\n".encode()),
    ("html", "text/html; charset=utf-8", b"<!DOCTYPE html><title>CR 4 v2</title>"),
    ("docx", DOCX, b"PK\x03\x04docx\x02"),
    ("pdf", "application/pdf", b"%PDF-stored"),
])
async def test_minutes_files(server, db, ext, content_type, expected):
    add_minutes(db)
    token = token_for(db)
    status, headers, body = await get(f"{server}/minutes/{token}/4/2.{ext}")
    assert (status, headers["Content-Type"], body) == (200, content_type, expected)
    assert f'filename="compte-rendu-4-v2.{ext}"' in headers["Content-Disposition"]
    status, _, _ = await get(f"{server}/minutes/{token}/4/2.{ext}", **{"If-None-Match": headers["ETag"]})
    assert status == 304


async def test_a_version_published_before_pdf_existed_is_printed_from_its_html(server, db):
    add_minutes(db)
    status, headers, body = await get(f"{server}/minutes/{token_for(db)}/4/1.pdf")
    assert (status, headers["Content-Type"]) == (200, "application/pdf")
    assert PdfReader(io.BytesIO(body)).metadata.title == "CR 4 v1"  # printed from version 1's HTML


async def test_minutes_of_another_room_are_not_reachable(server, db):
    add_minutes(db)
    assert (await get(f"{server}/minutes/{token_for(db)}/5/1.md"))[0] == 404
    other = token_for(db, "!autre:localhost")
    status, _, body = await get(f"{server}/minutes/{other}/5/1.md")
    assert (status, body) == (200, b"secret")


async def test_empty_archive(server, db):
    status, _, body = await get(f"{server}/minutes/{token_for(db)}/")
    assert status == 200 and "Aucun compte rendu" in body.decode()


# --------------------------------------------------------------------------- binding


async def test_binds_only_the_configured_host(tmp_path, db):
    config = make_config(tmp_path, http={"host": "127.0.0.1", "port": 0})
    runner = await http.start(FakeHost(config, db, now=NOW))
    try:
        port = http.bound_port(runner)
        assert runner.addresses == [("127.0.0.1", port)]
        assert port > 0
    finally:
        await runner.cleanup()


async def test_port_in_use_is_retried_without_stopping_the_bot(config, db, monkeypatch, caplog):
    monkeypatch.setattr(http, "BIND_RETRY_SECONDS", 0.05)
    squatter = await http.start(FakeHost(config, db, now=NOW))
    service = asyncio.create_task(http.run(FakeHost(config, db, now=NOW)))
    try:
        await asyncio.sleep(0.2)
        assert not service.done()  # still trying, not crashed
        assert "cannot listen on 127.0.0.1" in caplog.text
        await squatter.cleanup()
        token = token_for(db)
        for _ in range(100):
            try:
                status, _, _ = await get(f"http://127.0.0.1:{config.http.port}/calendar/{token}.ics")
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        assert status == 200
    finally:
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
        await squatter.cleanup()
