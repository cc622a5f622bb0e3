"""A throwaway PostgreSQL server started from its binaries, for tests.

``PostgresServer(workdir).start()`` runs ``initdb`` (trust auth, UTF8,
locale C) into ``workdir/data``, starts ``postgres`` on a free 127.0.0.1
port with its unix socket inside ``workdir``, waits until it accepts
connections and creates the database ``maillage``.  ``stop()`` shuts it
down (fast mode); ``start_again()`` brings a stopped server back (same port,
same data) and ``restart()`` does both; ``create_database(name)`` adds a
database and returns its URL.

initdb and postgres refuse to run as root, so when the tests run as root
the binaries run as the ``postgres`` system user (``runuser -u postgres``),
which owns the working directory.  This module is synchronous on purpose:
it is used from pytest fixtures.
"""

from __future__ import annotations

import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import time

__all__ = ["PostgresServer", "find_pg_bin"]

_PG_TOOLS = ("initdb", "pg_ctl", "postgres")
_DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
_RUN_AS = "postgres"
_DATABASE = "maillage"


def find_pg_bin() -> pathlib.Path | None:
    """Directory holding initdb, pg_ctl and postgres, or None.

    PATH comes first (symlinks are resolved so the sibling tools are found),
    then Debian's ``/usr/lib/postgresql/<version>/bin``, highest version.
    """
    initdb = shutil.which("initdb")
    if initdb:
        candidate = pathlib.Path(initdb).resolve().parent
        if _has_tools(candidate):
            return candidate
    for candidate in sorted(
        pathlib.Path("/").glob(_DEBIAN_GLOB.lstrip("/")), key=_version_key, reverse=True
    ):
        if _has_tools(candidate):
            return candidate
    return None


def _has_tools(directory: pathlib.Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in _PG_TOOLS)


def _version_key(bin_dir: pathlib.Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``."""
    return tuple(int(n) for n in re.findall(r"\d+", bin_dir.parent.name))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_traversable(path: pathlib.Path) -> None:
    """Give 'others' search permission on ``path`` and its ancestors.

    Temp dirs from ``tempfile.mkdtemp`` are mode 0700, which would keep the
    ``postgres`` user out of its own working directory.
    """
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & 0o001:
            directory.chmod(mode | 0o001)


class PostgresServer:
    """A PostgreSQL cluster living in ``workdir``, on a loopback port."""

    def __init__(self, workdir: pathlib.Path) -> None:
        self.workdir = pathlib.Path(workdir)
        self.bin_dir = find_pg_bin()
        self.port: int | None = None
        self.user = _RUN_AS if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.url = ""

    @property
    def data_dir(self) -> pathlib.Path:
        return self.workdir / "data"

    @property
    def socket_dir(self) -> pathlib.Path:
        return self.workdir / "sock"

    @property
    def log_path(self) -> pathlib.Path:
        return self.workdir / "postgres.log"

    # -- running the binaries -----------------------------------------

    def _command(self, tool: str, *args: str) -> list[str]:
        """Command line for a tool, wrapped in runuser when we are root."""
        assert self.bin_dir is not None
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _RUN_AS, "--", *command]
        return command

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        """Run a tool, raising RuntimeError with its output on failure."""
        result = subprocess.run(
            self._command(tool, *args),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
                f"{self._log_tail()}"
            )
        return result.stdout

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\npostgres.log:\n" + "\n".join(lines[-30:])

    # -- lifecycle ---------------------------------------------------------

    def prepare_workdir(self) -> None:
        """Create the working directory, owned by the user running postgres."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            _make_traversable(self.workdir)
            account = pwd.getpwnam(_RUN_AS)
            for path in (self.workdir, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)

    def start(self) -> None:
        """initdb, start on a free port, wait ready, create 'maillage'."""
        if self.bin_dir is None:
            raise RuntimeError("PostgreSQL binaries not found (initdb/pg_ctl)")
        self.prepare_workdir()
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.port = _free_port()
        self.start_again()
        self._create_database()
        self.url = self.url_of(_DATABASE)

    def start_again(self) -> None:
        """Start the existing cluster (after ``stop()``) on ``self.port``; wait until it answers."""
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait_ready()

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create another database on this server; returns its SQLAlchemy URL."""
        self._create_database(name)
        return self.url_of(name)

    def restart(self, down_seconds: float = 0) -> None:
        """Stop (fast: open connections are cut, as in a real restart), stay down
        ``down_seconds``, start again on the same port with the same data."""
        self.stop()
        time.sleep(down_seconds)
        self.start_again()

    def _wait_ready(self, timeout: float = 30) -> None:
        """pg_ctl -w already waits; double-check the TCP port answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL not ready{self._log_tail()}")
                time.sleep(0.1)

    def _create_database(self, name: str = _DATABASE) -> None:
        """Create a database (default 'maillage') over TCP with psycopg."""
        import psycopg  # a project dependency; imported lazily

        dsn = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """Shut the server down (fast mode); harmless if not running."""
        if self.bin_dir is None or not (self.data_dir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
