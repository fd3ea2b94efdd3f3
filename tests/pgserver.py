"""A throwaway PostgreSQL server for the tests, started and stopped by the tests themselves.

``PgServer`` runs ``initdb`` into a temp dir and ``pg_ctl start`` on a free port of
127.0.0.1 (and a unix socket inside the temp dir): fsync off, trust auth, superuser
``postgres``. ``ExternalPgServer`` wraps a server someone else runs
(``ALERTBOT_TEST_PG_URL``). Both hand out fresh, empty databases.

initdb and postgres refuse to run as root: under euid 0 every server command runs as
the ``postgres`` system user (``runuser -u postgres --``) and the temp dir is chowned to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
NOT_FOUND = (
    "PostgreSQL server binaries not found (initdb, pg_ctl); install postgresql or run .ci/run"
)
SUPERUSER = "postgres"
RUN_AS = "postgres"  # system user the server runs as when the tests run as root
MAX_CONNECTIONS = 200  # chaos tests run several processes, each with a pool

_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _version_key(bin_dir: str) -> tuple[int, ...]:
    version = Path(bin_dir).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def _has_server(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in SERVER_BINARIES)


def _is_script(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    The real binaries under /usr/lib/postgresql/<version>/bin come first, newest
    version first; then the PATH, following symlinks, and skipping wrapper scripts
    (a ``pg_ctl`` on the PATH may be a script that drives some other cluster).
    """
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if _has_server(Path(candidate)):
            return Path(candidate)
    found = shutil.which("initdb")
    if found is not None:
        bin_dir = Path(found).resolve().parent
        if _has_server(bin_dir) and not any(_is_script(bin_dir / n) for n in SERVER_BINARIES):
            return bin_dir
    return None


def unavailable_reason() -> str | None:
    """Why no server can be started here, or None when one can."""
    if find_bin_dir() is None:
        return NOT_FOUND
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return (
                f"running as root, and PostgreSQL refuses root: no {RUN_AS!r} system user "
                "to run it as (install postgresql or run .ci/run)"
            )
        if shutil.which("runuser") is None:
            return "running as root, and PostgreSQL refuses root: runuser not found"
    return None


def _temp_root() -> str:
    """The temp dir to use; as root, one the server user can reach (e.g. not under /root)."""
    root = tempfile.gettempdir()
    if os.geteuid() == 0:
        path = Path(root).resolve()
        if not all(p.stat().st_mode & 0o001 for p in (path, *path.parents)):
            return "/tmp"
    return root


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _quote_ident(name: str) -> str:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r}: use lowercase letters, digits and _")
    return f'"{name}"'


class _Databases:
    """Creating and dropping databases through asyncpg, as the superuser."""

    def url(self, dbname: str) -> str:
        raise NotImplementedError

    def create_database(self, name: str) -> str:
        """Create an empty database (from template0) and return its URL."""
        self._admin(f"CREATE DATABASE {_quote_ident(name)} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        self._admin(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    def _admin(self, sql: str) -> None:
        import asyncpg

        async def run() -> None:
            conn = await asyncpg.connect(self.url("postgres"), timeout=10)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        _run_sync(run())


class ExternalPgServer(_Databases):
    """A server run by someone else, given as a URL (its database part is ignored)."""

    def __init__(self, url: str) -> None:
        self._parts = urlsplit(url)
        if self._parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"not a PostgreSQL URL: {url!r}")

    def url(self, dbname: str) -> str:
        return urlunsplit(self._parts._replace(path=f"/{dbname}"))


class PgServer(_Databases):
    """A throwaway PostgreSQL server on 127.0.0.1 with its data in a temp dir."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.port: int | None = None
        self.dir: Path | None = None
        self.start_seconds: float | None = None

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "server not started"
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.dir is not None, "server not started"
        return self.dir / "run"

    @property
    def log_file(self) -> Path:
        assert self.dir is not None, "server not started"
        return self.dir / "postgres.log"

    def url(self, dbname: str) -> str:
        assert self.port is not None, "server not started"
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    # -- running the server binaries --------------------------------------

    def _cmd(self, name: str, *args: str) -> list[str]:
        assert self.bin_dir is not None
        cmd = [str(self.bin_dir / name), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        return cmd

    def _run(self, name: str, *args: str, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        done = subprocess.run(
            self._cmd(name, *args),
            cwd=self.dir,  # readable by the server user, unlike root's cwd may be
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{name} {' '.join(args)} failed (exit {done.returncode}):\n"
                f"{done.stdout.strip()}{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""
        return "\n--- postgres.log ---\n" + "\n".join(text.splitlines()[-lines:])

    # -- life cycle ---------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        """initdb a fresh cluster and start it; raise RuntimeError when it won't."""
        if self.bin_dir is None:
            raise RuntimeError(NOT_FOUND)
        if self.dir is not None:
            raise RuntimeError("server already started")
        started = time.monotonic()
        # Short path: the unix socket path must fit in 107 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="alertbot-pg-", dir=_temp_root()))
        try:
            self.socket_dir.mkdir()
            if os.geteuid() == 0:
                user = pwd.getpwnam(RUN_AS)
                for path in (self.dir, self.socket_dir):
                    os.chown(path, user.pw_uid, user.pw_gid)
            self._run(
                "initdb",
                f"--pgdata={self.data_dir}",
                f"--username={SUPERUSER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            for attempt in range(attempts):
                self.port = _free_port()
                self._write_conf()
                try:
                    self._run(
                        "pg_ctl",
                        "start",
                        "--wait",
                        "--timeout=60",
                        f"--pgdata={self.data_dir}",
                        f"--log={self.log_file}",
                        timeout=90,
                    )
                    break
                except RuntimeError:
                    # Most likely another process took the port in between: try another.
                    self._kill_postmaster()
                    if attempt == attempts - 1:
                        raise
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def _write_conf(self) -> None:
        # A later setting wins in postgresql.conf: rewrite our block on every attempt.
        conf = self.data_dir / "postgresql.conf"
        marker = "# --- alertbot tests ---\n"
        base = conf.read_text().split(marker)[0]
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": str(MAX_CONNECTIONS),
            "shared_buffers": "'32MB'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
        }
        body = "".join(f"{key} = {value}\n" for key, value in settings.items())
        conf.write_text(base + marker + body)

    def stop(self) -> None:
        """Stop the server (immediate mode) and remove its directory. Safe to call twice."""
        if self.dir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                try:
                    self._run(
                        "pg_ctl",
                        "stop",
                        "--wait",
                        "--mode=immediate",
                        f"--pgdata={self.data_dir}",
                        timeout=30,
                    )
                except (RuntimeError, subprocess.TimeoutExpired):
                    self._kill_postmaster()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.port = None

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # its children notice and exit on their own
        with contextlib.suppress(OSError):
            (self.data_dir / "postmaster.pid").unlink()

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
