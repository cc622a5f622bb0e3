"""Maillage side by side with a bare matrix-nio echo bot (bench/echo_bot.py), same run,
same Synapse (loopback), same room:

- start-up: seconds from starting the process to "logged in as" (Maillage: login, then
  its encryption prepared, while its worker thread imports the commands and opens the
  database; the echo bot: login and its first sync), R rounds alternated;
- reply latency: one ``!aide profil`` answered by both bots, K times: p50/p95 of the time
  from sending to seeing each bot's reply;
- live capture: M plain messages in an open séance, each bot's CPU seconds per message
  (process user+system time, less its idle rate over the same time);
- catch-up: both bots stopped, N plain messages posted in the open séance, then each
  bot started alone: seconds until Maillage's minutes hold message N (its item is in
  the database) and until the echo bot has read it. Two rounds, each bot first once.

Prints the figures and the ratios Maillage/echo. No assertions.

    python bench/catchup.py [N] [M] [K] [R]      (defaults 1000 200 30 5)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.matrix.devclient import MatrixUser, notices_from, replies_to  # noqa: E402
from bot.ops.devserver import SynapseServer  # noqa: E402
from tests.botproc import BOT_PASSWORD, ensure_bot_account, write_config  # noqa: E402

MAILLAGE = "maillage-bench"
ECHO = "echo-bench"
TICKS = os.sysconf("SC_CLK_TCK")
POLL = 0.005


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Process:
    """A bot subprocess whose output lines are read, with their arrival time, by a thread."""

    def __init__(self, argv: list[str], log: Path):
        self.argv, self.log = argv, log
        self.process: subprocess.Popen | None = None
        self.lines: list[tuple[float, str]] = []

    def start(self) -> float:
        self.lines = []
        started = time.perf_counter()
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                        text=True, encoding="utf-8", errors="replace")
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        return started

    def _read(self, process: subprocess.Popen) -> None:
        with open(self.log, "a", encoding="utf-8") as log:
            for line in process.stdout:
                self.lines.append((time.perf_counter(), line))
                log.write(line)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)

    async def line_with(self, text: str, timeout: float = 120) -> float:
        """When the first output line containing ``text`` arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in self.lines:
                if text in line:
                    return at
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.argv[2]} exited: {''.join(l for _, l in self.lines[-20:])}")
            await asyncio.sleep(POLL)
        raise TimeoutError(f"{text!r} not seen")

    @property
    def pid(self) -> int:
        return self.process.pid


async def until(predicate, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return time.perf_counter()
        await asyncio.sleep(POLL)
    raise TimeoutError("condition not met")


class Bench:
    def __init__(self, work: Path, synapse: SynapseServer):
        self.work, self.synapse = work, synapse
        config = write_config(work / "bot", synapse.base_url, bot_localpart=MAILLAGE)
        self.database = work / "bot" / "maillage.db"
        self.maillage = Process([sys.executable, "-m", "bot.ops.cli", "run", "-c", str(config)],
                                work / "maillage.log")
        self.echo = Process([sys.executable, str(ROOT / "bench" / "echo_bot.py"), synapse.base_url,
                             f"@{ECHO}:localhost", BOT_PASSWORD, str(work / "echo")],
                            work / "echo.log")
        self.maita: MatrixUser | None = None
        self.room = ""

    def captured(self, text: str) -> bool:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT 1 FROM item WHERE text = ?", (text,)).fetchone() is not None

    async def setup(self) -> None:
        await ensure_bot_account(self.synapse, MAILLAGE)
        await ensure_bot_account(self.synapse, ECHO)
        self.maita = await MatrixUser.create(self.synapse, "maita-bench", "Maïta Giraldi")
        for bot in (self.maillage, self.echo):
            bot.start()
            await bot.line_with("logged in as")
        self.room = await self.maita.create_room(
            version="11", invite=[f"@{MAILLAGE}:localhost", f"@{ECHO}:localhost"])
        await self.maita.wait_for(self.room, lambda ev: notices_from(ev, f"@{MAILLAGE}:localhost"),
                                  what="welcome")
        await until(self._echo_joined)
        opened = await self.maita.say(self.room, "!seance ouvrir Séance de mesure")
        await self.maita.wait_for(self.room, lambda ev: replies_to(ev, f"@{MAILLAGE}:localhost", opened))

    async def _echo_joined(self) -> bool:
        return await self.maita.membership(self.room, f"@{ECHO}:localhost") == "join"

    async def replies(self, count: int) -> dict[str, list[float]]:
        latency: dict[str, list[float]] = {"maillage": [], "echo": []}
        for _ in range(count):
            sent = time.perf_counter()
            command = await self.maita.say(self.room, "!aide profil")
            pending = {"maillage": f"@{MAILLAGE}:localhost", "echo": f"@{ECHO}:localhost"}
            while pending:
                events = await self.maita.messages(self.room, limit=20)
                for name, user in list(pending.items()):
                    if replies_to(events, user, command):
                        latency[name].append(time.perf_counter() - sent)
                        del pending[name]
                await asyncio.sleep(POLL)
        return latency

    async def live_cpu(self, count: int) -> dict[str, float]:
        """CPU seconds per captured message, each bot's idle rate taken off."""
        bots = {"maillage": self.maillage, "echo": self.echo}
        idle_start = {name: cpu_seconds(bot.pid) for name, bot in bots.items()}
        await asyncio.sleep(3)
        idle = {name: (cpu_seconds(bot.pid) - idle_start[name]) / 3 for name, bot in bots.items()}
        before = {name: cpu_seconds(bot.pid) for name, bot in bots.items()}
        started = time.perf_counter()
        last = ""
        for n in range(count):
            last = f"Message en direct n°{n} : un échange sur le projet."
            await self.maita.say(self.room, last)
        await until(lambda: asyncio.to_thread(self.captured, last))
        await self.echo.line_with(f"read {last}")
        elapsed = time.perf_counter() - started
        return {name: (cpu_seconds(bot.pid) - before[name] - idle[name] * elapsed) / count
                for name, bot in bots.items()}

    async def startup(self, rounds: int) -> dict[str, list[float]]:
        """Both bots stopped before; each started then stopped, ``rounds`` times, alternated."""
        seconds: dict[str, list[float]] = {"maillage": [], "echo": []}
        for number in range(rounds):
            order = (("maillage", self.maillage), ("echo", self.echo))
            for name, bot in order if number % 2 == 0 else reversed(order):
                started = bot.start()
                seconds[name].append(await bot.line_with("logged in as") - started)
                await asyncio.sleep(1)   # its first sync done: the next start resumes from it
                bot.stop()
        return seconds

    async def catch_up(self, count: int, maillage_first: bool, label: str) -> dict[str, float]:
        """Both bots stopped: ``count`` messages posted, then each bot started alone."""
        last = ""
        for n in range(count):
            last = f"Message en retard {label} n°{n}"
            await self.maita.say(self.room, last)
        seconds = {}
        order = [("maillage", self.maillage), ("echo", self.echo)]
        for name, bot in order if maillage_first else reversed(order):
            started = bot.start()
            if name == "maillage":
                done = await until(lambda: asyncio.to_thread(self.captured, last))
            else:
                done = await bot.line_with(f"read {last}", timeout=300)
            seconds[name] = done - started
            bot.stop()
        return seconds


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def main(backlog: int, live: int, commands: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="maillage-catchup-") as folder:
        work = Path(folder)
        async with SynapseServer(work / "synapse") as synapse:
            bench = Bench(work, synapse)
            try:
                await bench.setup()
                latency = await bench.replies(commands)
                cpu = await bench.live_cpu(live)
                bench.maillage.stop()
                bench.echo.stop()
                start = await bench.startup(rounds)
                catch = [await bench.catch_up(backlog, True, "a"),
                         await bench.catch_up(backlog, False, "b")]
            finally:
                for bot in (bench.maillage, bench.echo):
                    if bot.process and bot.process.poll() is None:
                        bot.stop()
    print(f"start-up to 'logged in as', {rounds} rounds (seconds, median)")
    m, e = statistics.median(start["maillage"]), statistics.median(start["echo"])
    print(f"  maillage {m:.2f}   echo {e:.2f}   ratio {m / e:.2f}x   (goal <= 1.5x)")
    print(f"reply to '!aide profil', {commands} commands (seconds)")
    for name, values in latency.items():
        print(f"  {name:8} p50 {statistics.median(values):.3f}   p95 {p95(values):.3f}")
    print(f"  ratio p95 {p95(latency['maillage']) / p95(latency['echo']):.2f}x   (goal <= 1.3x)")
    print(f"live capture, {live} messages (CPU ms per message)")
    print(f"  maillage {cpu['maillage'] * 1000:.2f}   echo {cpu['echo'] * 1000:.2f}   "
          f"ratio {cpu['maillage'] / cpu['echo']:.2f}x   (goal <= 3x)")
    print(f"catch-up of {backlog} messages, from start until message {backlog} is held (seconds)")
    for number, seconds in enumerate(catch, 1):
        first = "maillage" if number == 1 else "echo"
        print(f"  round {number} ({first} first): maillage {seconds['maillage']:.2f}   "
              f"echo {seconds['echo']:.2f}   ratio {seconds['maillage'] / seconds['echo']:.2f}x")
    total = {name: sum(s[name] for s in catch) for name in ("maillage", "echo")}
    print(f"  both rounds: ratio {total['maillage'] / total['echo']:.2f}x   (goal <= 2x)")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:5]]
    asyncio.run(main(*arguments, *(1000, 200, 30, 5)[len(arguments):]))
