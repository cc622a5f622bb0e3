"""End-to-end: calendar invitations with the real bot (subprocess) on a real Synapse.

A member subscribes with an e-mail address; a facilitator plans a rencontre. The
``.ics`` appears in the room (downloaded from the media repository), the member
gets it by direct message (joining the DM room the bot opens) and by e-mail at a
real SMTP server (aiosmtpd); the bot's own HTTP server serves the room's feed.
Cancelling sends METHOD:CANCEL by e-mail and DM and marks the event cancelled in
the feed. Every file is read by ical.js and vobject.
"""

from __future__ import annotations

import asyncio
import email
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from multidict import CIMultiDict

from bot.matrix.devcrypto import EncryptingUser
from bot.ops.devserver import free_port
from tests.botproc import BOT, ask, start_world
from tests.e2e_world import direct_room
from tests.icalcheck import check_rules, parse_both
from tests.matrix_user import MatrixUser, download_media
from tests.test_mailer import Collect

pytestmark = pytest.mark.e2e
SENDER = "maillage@reseau-cpo.test"
ADDRESS = "anabela.decastro@ville-beauvais.fr"


def calendar_config(http_port: int, smtp_port: int) -> str:
    return f"""
[http]
host = "127.0.0.1"
port = {http_port}
public_url = "http://127.0.0.1:{http_port}"

[email]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "Maillage <{SENDER}>"
"""


@pytest.fixture
async def world(synapse, tmp_path, request):
    """Bot with [http] and [email]; an SMTP server; facilitator maita and member anabela."""
    suffix = request.node.name.replace("_", "")[-10:].lower()
    smtp = Controller(Collect(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    http_port = free_port()
    bot, room, (maita, anabela) = await start_world(
        synapse, tmp_path / "bot", (f"maita-c{suffix}", "Maïta Giraldi"),
        [(f"anabela-c{suffix}", "Anabela De Castro")],
        extra=calendar_config(http_port, smtp.port), ready_log="HTTP server on 127.0.0.1",
        member_type=EncryptingUser)   # the bot's direct chats are encrypted, as Element's

    yield bot, room, maita, anabela, smtp.handler, f"http://127.0.0.1:{http_port}"
    await anabela.close()
    if bot.alive():
        bot.stop()
    smtp.stop()


def ics_files(events: list[dict]) -> list[dict]:
    return [e for e in events if e["sender"] == BOT and e["content"].get("msgtype") == "m.file"
            and e["content"].get("info", {}).get("mimetype") == "text/calendar"]


async def download(user: MatrixUser, event: dict) -> bytes:
    """A file in the (clear) room, or an encrypted attachment in the (encrypted) DM."""
    if "file" in event["content"]:
        return await user.download(event["content"])
    assert event["content"]["url"].startswith("mxc://")
    return await download_media(user.base_url, user.token, event["content"]["url"])


def read(data: bytes, method: str | None) -> dict:
    check_rules(data, method)
    [event] = parse_both(data)
    assert event["_method"] == method
    return event




async def mails(handler: Collect, count: int) -> list[email.message.EmailMessage]:
    for _ in range(200):
        if len(handler.envelopes) >= count:
            break
        await asyncio.sleep(0.3)
    assert len(handler.envelopes) == count, f"{len(handler.envelopes)} e-mails, expected {count}"
    return handler.messages()


def mailed_calendar(message) -> tuple[str, bytes]:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part.get_param("method"), part.get_payload(decode=True)


async def fetch(url: str, **headers) -> tuple[int, CIMultiDict, bytes]:
    async with aiohttp.ClientSession() as client, client.get(url, headers=headers) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def test_invitations_in_room_dm_email_and_feed(world):
    bot, room, maita, anabela, smtp, http_base = world
    reply = await ask(anabela, room, f"!abonner {ADDRESS}")
    assert "par e-mail" in reply
    refused = await ask(anabela, room, "!abonner anabela@ville")
    assert "domaine" in refused and "Usage" in refused

    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    await ask(maita, room, f"!rencontre planifier {day} 14:00-17:00\n"
                           "titre: Réseau CPO ; bilan, perspectives\nmode: visio\n"
                           "lien: https://visio.reseau-cpo.test/salle\nodj: Tour de table")

    # in the room: METHOD:PUBLISH, downloadable from the media repository
    [room_file] = await maita.wait_for(room, ics_files, what=".ics in the room")
    published = read(await download(maita, room_file), "PUBLISH")
    assert published["summary"] == "Réseau CPO ; bilan, perspectives"
    assert published["start"].startswith(day) and published["startZone"] == "Europe/Paris"
    assert published["sequence"] == 0 and published["url"] == "https://visio.reseau-cpo.test/salle"
    assert [a["address"] for a in published["attendees"]] == [f"https://matrix.to/#/{anabela.user_id}"]
    uid = published["uid"]

    # by direct message: METHOD:REQUEST
    dm = await direct_room(anabela)
    [dm_file] = await anabela.wait_for(dm, ics_files, what=".ics in the DM room")
    assert "file" in dm_file["content"] and "url" not in dm_file["content"]  # encrypted
    by_dm = read(await download(anabela, dm_file), "REQUEST")
    assert (by_dm["uid"], by_dm["sequence"]) == (uid, 0)
    assert by_dm["organizer"]["address"] == f"mailto:{SENDER}"

    # by e-mail: method=REQUEST, the recipient named by mailto:
    [invitation] = await mails(smtp, 1)
    assert invitation["To"] == ADDRESS
    method, data = mailed_calendar(invitation)
    assert method == "REQUEST"
    mailed = read(data, "REQUEST")
    assert mailed["uid"] == uid and f"mailto:{ADDRESS}" in {a["address"] for a in mailed["attendees"]}

    # the feed served by the bot process
    agenda = await ask(anabela, room, "!agenda")
    [feed_url] = [w for w in agenda.split() if w.startswith(http_base) and w.endswith(".ics")]
    status, headers, body = await fetch(feed_url)
    assert status == 200 and headers["Content-Type"] == "text/calendar; charset=utf-8"
    [in_feed] = [e for e in parse_both(body) if e["uid"] == uid]
    assert in_feed["status"] == "CONFIRMED" and in_feed["_method"] is None
    check_rules(body, None)
    assert (await fetch(feed_url, **{"If-None-Match": headers["ETag"]}))[0] == 304

    # cancellation: CANCEL by e-mail and DM, PUBLISH + STATUS:CANCELLED in the room and the feed
    await ask(maita, room, "!rencontre annuler 1 salle indisponible")
    room_files = await maita.wait_for(room, lambda ev: len(ics_files(ev)) == 2 and ics_files(ev),
                                      what="cancellation .ics in the room")
    cancelled = read(await download(maita, room_files[1]), "PUBLISH")
    assert (cancelled["uid"], cancelled["status"]) == (uid, "CANCELLED")
    assert cancelled["sequence"] > published["sequence"]
    dm_files = await anabela.wait_for(dm, lambda ev: len(ics_files(ev)) == 2 and ics_files(ev),
                                      what="cancellation by DM")
    assert read(await download(anabela, dm_files[1]), "CANCEL")["uid"] == uid
    invitation, cancellation = await mails(smtp, 2)
    method, data = mailed_calendar(cancellation)
    assert method == "CANCEL"
    assert read(data, "CANCEL")["status"] == "CANCELLED"

    status, _, body_after = await fetch(feed_url, **{"If-None-Match": headers["ETag"]})
    assert status == 200
    [in_feed] = [e for e in parse_both(body_after) if e["uid"] == uid]
    assert in_feed["status"] == "CANCELLED"

    # the address never reached a file posted in the room, nor the bot's log
    assert ADDRESS.encode() not in await download(maita, room_files[1])
    assert feed_url.split("/")[-1].removesuffix(".ics") not in bot.log()
