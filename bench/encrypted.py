"""Reply latency and minutes publication in an encrypted room vs a clear one, same run.

One real Synapse (loopback), one bot process, one user on matrix-js-sdk (Rust crypto,
Element's isolation mode — tests/e2ee_client.py) in two rooms the same user created:
one encrypted as Element creates private rooms, one clear. For each room: N commands
(`!aide profil`) one after the other, the time from sending to seeing the bot's
decrypted reply; then a séance of M messages and ``!cr publier`` until the minutes'
files are there. Prints p50/p95 and the encrypted/clear ratios. No assertions.

    python bench/encrypted.py [N] [M]      (needs `npm ci --prefix tests/e2ee`)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.matrix.devclient import replies_to  # noqa: E402
from bot.ops.devserver import SynapseServer  # noqa: E402
from tests.botproc import BotProcess, ensure_bot_account, write_config  # noqa: E402
from tests.e2ee_client import JsUser  # noqa: E402

BOT_LOCALPART = "maillage-bench"
BOT = f"@{BOT_LOCALPART}:localhost"


async def until(user: JsUser, room: str, predicate, timeout: float = 120):
    """Poll the client's decrypted timeline tightly (no sleep granularity in the figure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate(await user.events(room))
        if found:
            return found
        await asyncio.sleep(0.005)
    raise TimeoutError("no answer")


def readable(events):
    return [e for e in events if not e["decryption_failure"] and e["type"] != "m.room.encrypted"]


async def reply_latencies(user: JsUser, room: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        event_id = await user.say(room, "!aide profil")
        await until(user, room, lambda ev, e=event_id: replies_to(readable(ev), BOT, e))
        latencies.append(time.perf_counter() - start)
    return latencies


async def publication_seconds(user: JsUser, room: str, messages: int) -> float:
    await user.say(room, "!seance ouvrir")
    for i in range(messages):
        await user.say(room, f"Message de séance numéro {i} : un échange sur le projet.")
    close = await user.say(room, "!seance clore")
    await until(user, room, lambda ev: replies_to(readable(ev), BOT, close))
    start = time.perf_counter()
    publish = await user.say(room, "!cr publier")

    def files(events):
        ids = [e["event_id"] for e in events]
        later = events[ids.index(publish) + 1:] if publish in ids else []
        found = [e for e in readable(later) if e["sender"] == BOT
                 and e["content"].get("msgtype") == "m.file"]
        return found if len(found) >= 3 else None
    await until(user, room, files)
    return time.perf_counter() - start


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


async def main(count: int, messages: int) -> None:
    with tempfile.TemporaryDirectory(prefix="maillage-bench-") as folder:
        work = Path(folder)
        async with SynapseServer(work / "synapse") as synapse:
            await ensure_bot_account(synapse, BOT_LOCALPART)
            bot = BotProcess(write_config(work / "bot", synapse.base_url, bot_localpart=BOT_LOCALPART))
            bot.start()
            bot.wait_log("logged in as")
            user = await JsUser.create(synapse, "maita-bench", "Maïta Giraldi", log_dir=work)
            try:
                rooms = {}
                for name, encrypted in (("clear", False), ("encrypted", True)):
                    room = await user.create_room(invite=[BOT], encrypted=encrypted, name=name)
                    await user.wait_membership(room, BOT)
                    await until(user, room, lambda ev: [e for e in readable(ev) if e["sender"] == BOT])
                    rooms[name] = room
                latency = {name: [] for name in rooms}
                for _ in range(2):  # interleaved rounds: drift hits both rooms alike
                    for name, room in rooms.items():
                        latency[name] += await reply_latencies(user, room, count // 2)
                publish = {name: await publication_seconds(user, room, messages)
                           for name, room in rooms.items()}
            finally:
                await user.close()
                bot.stop()
    print(f"reply latency, {count} commands per room (seconds)")
    for name, values in latency.items():
        print(f"  {name:9}  p50 {statistics.median(values):.3f}  p95 {p95(values):.3f}")
    print(f"  ratio encrypted/clear: p50 {statistics.median(latency['encrypted']) / statistics.median(latency['clear']):.2f}x"
          f"  p95 {p95(latency['encrypted']) / p95(latency['clear']):.2f}x")
    print(f"!cr publier after {messages} messages, until the 3+ files are seen (seconds)")
    for name, seconds in publish.items():
        print(f"  {name:9}  {seconds:.2f}")
    print(f"  ratio encrypted/clear: {publish['encrypted'] / publish['clear']:.2f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 200))
