"""A throwaway PostgreSQL cluster for the journal tests: its own data directory, socket and port.

Uses the server binaries of the OS packages (Debian/Ubuntu: `postgresql`, which installs them
under /usr/lib/postgresql/<version>/bin, or any `initdb` on PATH; `SONDOS_PG_BIN` names the
directory). initdb refuses to run as root, so as root the cluster runs as `nobody`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PASSWORD_ROLE = "sondos_pw"
ROLE_PASSWORD = "right-pw-5e1d"


def find_bin() -> Path | None:
    explicit = os.environ.get("SONDOS_PG_BIN")
    if explicit:
        return Path(explicit) if (Path(explicit) / "initdb").exists() else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A running cluster for the session; skips (or, with SONDOS_REQUIRE_POSTGRES=1, fails) without binaries."""
    bin_dir = find_bin()
    if bin_dir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found; install the OS package 'postgresql'"
        if os.environ.get("SONDOS_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (SONDOS_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    if os.environ.get("SONDOS_REQUIRE_POSTGRES") != "1":
        pytest.importorskip("psycopg", reason="the postgres extra is not installed: pip install '.[postgres]'")
    cluster = Cluster(bin_dir).start()
    yield cluster
    cluster.stop()


class Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="sondos-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self._as: list[str] = []
        self._password_role = False
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "nobody", "--"]
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "nobody")

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, cwd=self.dir, timeout=120)

    def start(self) -> Cluster:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-k {self.dir} -p {self.port} -c listen_addresses='' -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", str(self.dir / "log"), "start"
        )
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.dir}&port={self.port}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def password_url(self, password: str, database: str = "postgres") -> str:
        """A URL for a role that must log in with a password (the cluster trusts everyone else)."""
        import psycopg

        if not self._password_role:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'")
            hba = self.data / "pg_hba.conf"
            hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\n" + hba.read_text())  # first match wins
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "reload")
            self._password_role = True
            for _ in range(100):  # until the reload has taken effect
                try:
                    psycopg.connect(self.password_url("not-" + ROLE_PASSWORD)).close()
                except psycopg.OperationalError:
                    break
                time.sleep(0.05)
        return f"postgresql://{PASSWORD_ROLE}:{password}@/{database}?host={self.dir}&port={self.port}"

    def connections(self, database: str) -> int:
        """Open connections to one database, as the server counts them."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
            ).fetchone()
        assert row is not None
        return int(row[0])

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
