"""The change journal: every change sent upstream, recorded before and after the call.

`open_journal(settings)` picks the store: PostgreSQL when `SONDOS_JOURNAL_URL` is set, else
SQLite at `SONDOS_JOURNAL` (default: a file in the user's data directory), or none when
`SONDOS_JOURNAL=off`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sondos_mcp import telemetry
from sondos_mcp.errors import JournalError
from sondos_mcp.journal.store import (
    OUTCOMES,
    ChangeEntry,
    ChangeFilter,
    JournalStore,
    NewChange,
    new_change_id,
    new_set_id,
    utc_now,
)

if TYPE_CHECKING:
    from sondos_mcp.config import Settings


def default_journal_path() -> Path:
    """The journal's file in the user's data directory (XDG on Linux, the platform's elsewhere)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "sondos-mcp" / "journal.sqlite3"


def open_journal(settings: Settings) -> JournalStore | None:
    """The configured store (not yet opened: `open()` connects and migrates); None when the journal is off."""
    store = _store(settings)
    # With metrics on, a store that times its writes; otherwise this very store.
    return telemetry.hooks.journal(store) if store is not None else None


def _store(settings: Settings) -> JournalStore | None:
    if settings.journal_url is not None:
        from sondos_mcp.journal.postgres import PostgresJournal

        return PostgresJournal(settings.journal_url.get_secret_value(), api=settings.api_base)
    if settings.journal.strip().lower() == "off":
        return None
    from sondos_mcp.journal.sqlite import SqliteJournal

    path = default_journal_path() if settings.journal.strip() in ("", "default") else Path(settings.journal)
    return SqliteJournal(path.expanduser(), api=settings.api_base)


__all__ = [
    "OUTCOMES",
    "ChangeEntry",
    "ChangeFilter",
    "JournalError",
    "JournalStore",
    "NewChange",
    "default_journal_path",
    "new_change_id",
    "new_set_id",
    "open_journal",
    "utc_now",
]
