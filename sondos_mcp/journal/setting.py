"""Whether the journal's setting can work, said in one line that names the variable to fix.

`check_setting` runs at start-up: a PostgreSQL URL must have the right shape and answer one
connection (bounded, a few seconds); a SQLite path must be creatable and writable, checked
without opening it (desktop clients spawn the server on every launch). `SONDOS_JOURNAL=off` is
never checked. None of this needs the PostgreSQL driver except the connection itself, and no
message here ever repeats the URL: it may carry a password.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sondos_mcp.errors import JournalSettingError
from sondos_mcp.journal_url import JOURNAL_URL, url_problem

if TYPE_CHECKING:
    from sondos_mcp.config import Settings

JOURNAL = "SONDOS_JOURNAL"


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
