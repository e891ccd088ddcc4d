"""Whether the journal's setting can work, said in one line that names the variable to fix.

`check_setting` runs at start-up: a PostgreSQL URL must have the right shape and answer one
connection (bounded, a few seconds); a SQLite path must be creatable and writable, checked
without opening it (desktop clients spawn the server on every launch). `SONDOS_JOURNAL=off` is
never checked. None of this needs the PostgreSQL driver except the connection itself, and no
message here ever repeats the URL: it may carry a password.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from sondos_mcp.errors import JournalError

if TYPE_CHECKING:
    from sondos_mcp.config import Settings

JOURNAL = "SONDOS_JOURNAL"
JOURNAL_URL = "SONDOS_JOURNAL_URL"
SCHEMES = ("postgresql", "postgres")
URL_SHAPE = "postgresql://user:password@host/database"
# The PostgreSQL driver's loggers; a logger's filters do not reach its children, so each is named.
DRIVER_LOGGERS = ("psycopg", "psycopg.pq", "psycopg.pool")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,20})://")


class JournalSettingError(JournalError):
    """The journal's setting cannot work; `reason` says why without repeating a secret."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{reason} ({setting})")
        self.setting = setting
        self.reason = reason

    @property
    def line(self) -> str:
        """The start-up line: the variable, then why."""
        return f"{self.setting}: {self.reason}"


def url_problem(url: str) -> str | None:
    """Why this is not a PostgreSQL URL with a host, or None. Never quotes the URL."""
    scheme = _SCHEME.match(url)
    if scheme is None or scheme[1].lower() not in SCHEMES:
        found = f", not {scheme[1]}://" if scheme else ""
        return f"must be a postgresql:// or postgres:// URL such as {URL_SHAPE}{found}"
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
    except ValueError:
        return f"is not a valid URL (expected {URL_SHAPE}; percent-encode special characters in the password)"
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts and not any(h.strip() for h in query.get("host", []) + query.get("hostaddr", [])):
        return f"must name a host: {URL_SHAPE}, or ?host=/socket/directory"
    for host in hosts.split(",") if hosts else []:
        name, port = _host_port(host)
        if name is None:
            return f"is not a valid URL (expected {URL_SHAPE}; percent-encode special characters in the password)"
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            return "has a port that is not a number from 1 to 65535"
    return None


def _host_port(host: str) -> tuple[str | None, str]:
    """`host[:port]` or `[v6]:port` split; (None, '') when it is neither."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not host[end + 1 :].startswith(":")):
            return None, ""
        return host[1:end], host[end + 2 :]
    name, _, port = host.partition(":")
    return name, port


def url_secrets(url: str) -> list[str]:
    """What of the URL must never be shown: the URL itself and its password, as written and decoded."""
    found = [url]
    try:
        parts = urlsplit(url)
        passwords = [parts.password or "", *parse_qs(parts.query).get("password", [])]
    except ValueError:
        # Too broken to parse: whatever sits between the last ':' and '@' of the authority.
        authority = url.partition("://")[2].rpartition("@")[0]
        passwords = [authority.partition(":")[2]] if authority else []
    for password in passwords:
        found += [password, unquote(password)]
    return [s for s in dict.fromkeys(found) if s]


def place(url: str) -> str:
    """Where the URL points (hosts and port, or the socket directory), without user or password."""
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
    except ValueError:
        return "the configured server"
    hosts = parts.netloc.rpartition("@")[2]
    if hosts:
        return unquote(hosts)
    host = ",".join(query.get("host", []) + query.get("hostaddr", []))
    port = ",".join(query.get("port", []))
    return f"{host} (port {port})" if port else host


def default_journal_path() -> Path:
    """The journal's file in the user's data directory (XDG on Linux, the platform's elsewhere)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "sondos-mcp" / "journal.sqlite3"


def sqlite_path(settings: Settings) -> Path:
    """The SQLite journal's file as configured ('' and 'default': the user's data directory)."""
    chosen = settings.journal.strip()
    path = default_journal_path() if chosen in ("", "default") else Path(settings.journal)
    return path.expanduser()


def sqlite_problem(path: Path) -> str | None:
    """Why a journal file cannot be created or written at `path`, or None; stats only, opens nothing."""
    try:
        if path.is_dir():
            return f"{path} is a directory, not a journal file"
        if path.exists():
            if not path.is_file():
                return f"{path} is not a regular file"
            if not os.access(path, os.R_OK | os.W_OK):
                return f"{path} is not writable"
            directory = path.parent  # WAL mode writes its -wal and -shm files beside the journal
            return None if os.access(directory, os.W_OK | os.X_OK) else f"the directory {directory} is not writable"
        existing = path.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is not a directory, so {path} cannot be created"
        if not os.access(existing, os.W_OK | os.X_OK):
            if existing == path.parent:
                return f"the directory {existing} is not writable"
            return f"cannot create the directory {path.parent}: {existing} is not writable"
    except OSError as exc:
        return f"cannot use {path}: {exc.strerror or type(exc).__name__}"
    return None


def check_setting(settings: Settings) -> str | None:
    """Why the configured journal cannot work, as one line naming its variable; None when it can (or is off).

    PostgreSQL: the URL's shape, then one connection, a few seconds at most. SQLite: the path
    can be created and written, judged without opening it.
    """
    if settings.journal_url is not None:
        url = settings.journal_url.get_secret_value()
        problem = url_problem(url)
        if problem is not None:
            return f"{JOURNAL_URL}: {problem}"
        from sondos_mcp.journal.postgres import probe_blocking

        try:
            probe_blocking(url)
        except JournalSettingError as exc:
            return exc.line
        return None
    if settings.journal.strip().lower() == "off":
        return None
    problem = sqlite_problem(sqlite_path(settings))
    return f"{JOURNAL}: {problem}" if problem is not None else None
