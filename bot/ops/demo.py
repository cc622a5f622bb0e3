"""``maillage demo``: a throwaway Synapse on loopback, the bot, and a scripted séance.

Everything runs on this machine: a homeserver in a temporary folder, the bot in
this process, and five scripted members of the network who schedule a rencontre,
register, hold a séance modelled on *Compte rendu 4* and publish the minutes — in a
room created as Element creates a private room: end-to-end encrypted, so the bot's
replies and files (decrypted here to be saved) are encrypted too.
The minutes (md, html, docx), the ``.ics`` invites, the calendar feed and a
transcript of the room are written to a folder whose path is printed at the end.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

from bot.matrix.devclient import notices_from
from bot.matrix.devcrypto import EncryptingUser
from bot.ops.devserver import SynapseServer, free_port
from bot.support.config import parse_config

log = logging.getLogger(__name__)
BOT_LOCALPART = "maillage"
TZ = ZoneInfo("Europe/Paris")
ACK_TIMEOUT = 30


@dataclass(frozen=True)
class Person:
    localpart: str
    display_name: str
    full_name: str
    profile: str


PEOPLE = (
    Person("maita", "Maïta Giraldi", "Mme Giraldi Maïta", "Chargée de mission cohésion sociale ; IREV"),
    Person("anabela", "Anabela De Castro", "Mme De Castro Anabela",
           "Cheffe de projet cité éducative ; CE Beauvais"),
    Person("quentin", "Quentin Poilvé", "M. Poilvé Quentin", "Chef de projet cité éducative ; CE Soissons"),
    Person("nicolas", "Nicolas Labre", "M. Labre Nicolas", "Responsable de service, chef de projet ; CE Arras"),
    Person("sophie", "Sophie Jehl", "Mme Jehl Sophie",
           "Cheffe de projet opérationnel ; CE Hautmont, Louvroil, Neuf-Mesnil"),
    Person("guillaume", "Guillaume Chapron", "M. Chapron Guillaume",
           "Chef de projet cité éducative ; CE Douai"),
)
NEXT_MEETING_WEEKDAY = 3  # the network meets on Thursdays


def _slot(now: datetime, start_in: timedelta, hours: int) -> str:
    start = (now + start_in).astimezone(TZ).replace(second=0, microsecond=0)
    end = start + timedelta(hours=hours)
    return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"


def planning_message(now: datetime) -> str:
    return "\n".join([
        f"!rencontre planifier {_slot(now, timedelta(minutes=5), 3)}",
        "titre: Réseau régional des CPO",
        "mode: distanciel",
        "lien: https://visio.example.net/reseau-cpo",
        "objectif: Proposer un espace régional d'échanges et de partage de ressources entre "
        "les professionnel·le·s de la coordination opérationnelle des cités éducatives.",
        "odj: Tour d'écran des participant·e·s et actualités locales",
        "odj: Présentation et partage d'expérience par la cité éducative d'Arras",
        "odj: Mise en perspective des prochaines séances",
    ])


def next_meeting_message(now: datetime) -> str:
    day = (now + timedelta(days=28)).astimezone(TZ)
    day += timedelta(days=(NEXT_MEETING_WEEKDAY - day.weekday()) % 7)
    return "\n".join([
        f"!rencontre planifier {day:%Y-%m-%d} 14:00-17:00",
        "titre: Réseau régional des CPO — politiques éducatives locales",
        "mode: distanciel",
        "intervenant: Jean-Marc Berthet, sociologue des politiques éducatives",
        "odj: Modules de sensibilisation : politique de la ville, éducation prioritaire",
    ])


class Demo:
    def __init__(self, server: SynapseServer, out: Path, feed_lookup):
        self.server = server
        self.out = out
        self.feed_lookup = feed_lookup
        self.users: dict[str, EncryptingUser] = {}
        self.room = ""
        self.bot = f"@{BOT_LOCALPART}:{server.server_name}"

    async def people(self) -> None:
        for person in PEOPLE:
            self.users[person.localpart] = await EncryptingUser.create(
                self.server, person.localpart, person.display_name)

    async def command(self, who: str, text: str) -> str:
        """Send, then wait until the bot answered or acknowledged (reply or reaction)."""
        user = self.users[who]
        event_id = await user.say(self.room, text)
        await user.wait_for(self.room, lambda ev: _acknowledged(ev, self.bot, event_id),
                            timeout=ACK_TIMEOUT, what=f"the bot's answer to {text.splitlines()[0]!r}")
        return event_id

    async def say(self, who: str, text: str, reply_to: tuple[str, str] | None = None) -> str:
        """A free message, as Element sends it; ``reply_to`` = (event id, whose)."""
        if reply_to is not None:
            reply_to = (reply_to[0], self.users[reply_to[1]].user_id)
        return await self.users[who].say(self.room, text, reply_to=reply_to)

    async def run(self, now: datetime) -> None:
        await self.people()
        maita = self.users["maita"]
        self.room = await maita.create_room(invite=[self.bot] + [u.user_id for k, u in self.users.items()
                                                                  if k != "maita"],
                                            name="Réseau régional des CPO", encrypted=True)
        for key, user in self.users.items():
            if key != "maita":
                await user.join(self.room)
        await maita.wait_for(self.room, lambda ev: notices_from(ev, self.bot), what="welcome")
        await self.profiles()
        await self.schedule(now)
        await self.seance()
        await self.command("quentin", "!agenda")
        await self.publish()
        await self.save(await self.feed_lookup())

    async def profiles(self) -> None:
        for person in PEOPLE:
            await self.command(person.localpart, f"!profil nom {person.full_name}")
            await self.command(person.localpart, f"!profil {person.profile}")

    async def schedule(self, now: datetime) -> None:
        await self.command("maita", planning_message(now))
        await self.command("maita", next_meeting_message(now))
        await self.command("anabela", "!inscription 1")
        await self.command("quentin", "!inscription 1")
        await self.command("nicolas", "!rsvp 1")
        await self.command("sophie", "!inscription 1")
        await self.command("guillaume", "!excuse 1 en congés")
        await self.command("quentin", "!abonner")

    async def seance(self) -> None:
        await self.command("maita", "!seance ouvrir 1")
        await self.command("anabela", "!meteo 4 Bonne dynamique, la fête de quartier approche.")
        await self.command("quentin", "!meteo ⛅ Beaucoup de dossiers avant le COPIL du 23 juin.")
        await self.command("nicolas", "!météo ☀️ Fin de labellisation, l'équipe est motivée.")
        await self.command("maita", "!point suivant")
        news = await self.command("quentin", "!actu Organisation le 23 juin d'un comité de copilotage : "
                                  "bilan de la 1re année scolaire, environ 40 actions menées.")
        await self.say("anabela", "À Beauvais nous avons présenté un bilan par enjeu prioritaire, "
                       "puis une déclinaison par porteur de projet.", reply_to=(news, "quentin"))
        await self.command("anabela", "!actu Fête de quartier le 2 juillet : stand de la cité "
                           "éducative, ateliers multisensoriels, jeux parents-enfants.")
        await self.command("maita", "!actu nationale Publication du guide national d'évaluation "
                           "des cités éducatives.")
        typo = await self.say("sophie", "Quels leviers pour mobiliser les parnets ?")
        await self.users["sophie"].edit(self.room, typo, "Quels leviers pour mobiliser les parents ?")
        await self.say("nicolas", "S'appuyer sur le milieu associatif et les fêtes d'écoles.")
        await self.say("quentin", "(hors cr) je dois partir 5 minutes, je reviens")
        await self.command("maita", "!point suivant")
        await self.command("nicolas", "!partage L'école des sports — Une offre sportive de 3 à 25 ans "
                           "en 4 dispositifs, tremplin vers les clubs. https://www.arras.fr/ecole-des-sports")
        await self.command("nicolas", "!ressource https://zedegrafik.fr Facilitateur graphique de la fresque")
        await self.command("maita", "!question Comment développer des coopérations sans logique de guichet ?")
        await self.command("maita", "!point suivant")
        await self.command("maita", "!decision Les séances de juin et juillet porteront sur la carte "
                           "des compétences des CPO.")
        await self.command("maita", "!action Envoyer la plaquette de l'école des sports @Nicolas Labre "
                           "pour vendredi prochain")
        await self.command("maita", "!seance clore")

    async def publish(self) -> None:
        await self.command("maita", "!cr publier")

    async def save(self, feed_url: str) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        maita = self.users["maita"]
        events = await maita.messages(self.room)
        for event in events:
            content = event.get("content", {})
            if event["sender"] == self.bot and content.get("msgtype") == "m.file":
                data = await maita.download(content)
                (self.out / _unique(self.out, content["body"])).write_bytes(data)
        (self.out / "transcript.md").write_text(_transcript(events, self.users, self.bot),
                                                encoding="utf-8")
        if feed_url:
            async with aiohttp.ClientSession() as session:
                async with session.get(feed_url) as response:
                    response.raise_for_status()
                    (self.out / "agenda-flux.ics").write_bytes(await response.read())


def _acknowledged(events: list[dict], bot: str, event_id: str) -> bool:
    for event in events:
        if event["sender"] != bot:
            continue
        relation = event.get("content", {}).get("m.relates_to", {})
        if relation.get("event_id") == event_id or relation.get("m.in_reply_to", {}).get("event_id") == event_id:
            return True
    return False


def _unique(folder: Path, name: str) -> str:
    candidate, n = name, 1
    while (folder / candidate).exists():
        n += 1
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
    return candidate


def _transcript(events: list[dict], users: dict[str, EncryptingUser], bot: str) -> str:
    names = {u.user_id: p.display_name for p in PEOPLE for k, u in users.items() if k == p.localpart}
    names[bot] = "Maillage"
    encrypted = any(event["type"] == "m.room.encryption" for event in events)
    lines = ["# Transcription du salon de démonstration", "",
             "Salon chiffré de bout en bout (comme Element crée un salon privé)." if encrypted
             else "Salon non chiffré.", ""]
    for event in events:
        content = event.get("content", {})
        if event["type"] == "m.room.message" and "body" in content:
            who = names.get(event["sender"], event["sender"])
            body = content["body"].replace("\n", "\n    ")
            attachment = " *(pièce jointe chiffrée)*" if "file" in content else ""
            lines.append(f"- **{who}** : {body}{attachment}")
        elif event["type"] == "m.reaction":
            who = names.get(event["sender"], event["sender"])
            lines.append(f"- *{who} réagit {content.get('m.relates_to', {}).get('key', '')}*")
    return "\n".join(lines) + "\n"


def demo_config(base_url: str, workdir: Path, http_port: int):
    raw = {
        "matrix": {"homeserver": base_url, "user_id": f"@{BOT_LOCALPART}:localhost",
                   "password": "demo-bot-password", "store_path": str(workdir / "store"),
                   "sync_timeout_ms": 2000},
        "bot": {"allowed_inviters": ["@maita:localhost"]},
        "reminders": {"offsets": ["1d", "1h"]},
        "database": {"url": f"sqlite:///{workdir / 'maillage.db'}"},
        "http": {"host": "127.0.0.1", "port": http_port, "public_url": f"http://127.0.0.1:{http_port}"},
    }
    return parse_config(raw, env={})


async def run_demo(output: Path | None = None) -> int:
    from bot.app.runtime import Runtime

    out = (output or Path("demo-output") / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    with tempfile.TemporaryDirectory(prefix="maillage-demo-") as tmp:
        workdir = Path(tmp)
        server = SynapseServer(workdir / "synapse")
        print(f"Démarrage d'un Synapse jetable sur 127.0.0.1 (dans {workdir})…")
        await server.start()
        try:
            await server.register_user(BOT_LOCALPART, "demo-bot-password", displayname="Maillage")
            config = demo_config(server.base_url, workdir, free_port())
            runtime = Runtime(config)
            bot_task = asyncio.create_task(runtime.run())
            await asyncio.wait_for(runtime.ready.wait(), 60)
            print(f"Maillage connecté à {server.base_url} ; séance scriptée en cours…")
            demo = Demo(server, out, lambda: runtime.in_worker(feed_url, runtime))
            try:
                await demo.run(datetime.now(TZ))
            finally:
                for user in demo.users.values():
                    await user.close()
                bot_task.cancel()
                await asyncio.gather(bot_task, return_exceptions=True)
        finally:
            await server.stop()
    print(f"\nCompte rendu (md, html, docx), invitations .ics, flux d'agenda et transcription : {out}")
    for path in sorted(out.iterdir()):
        print(f"  {path.name}")
    return 0


def feed_url(runtime) -> str:
    """The calendar feed URL of the demo room (its token exists once ``!agenda`` ran)."""
    from sqlmodel import select

    from bot.calendar import invites as calendar
    from bot.storage.models import CalendarFeed

    with runtime.db.session() as session:
        feed = session.exec(select(CalendarFeed)).first()
    return calendar.feed_url(runtime.config, feed.token) if feed else ""
