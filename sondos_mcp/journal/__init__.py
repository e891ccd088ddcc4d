"""The change journal: every change sent upstream, recorded before and after the call.

`open_journal(settings)` picks the store: PostgreSQL when `SONDOS_JOURNAL_URL` is set, else
SQLite at `SONDOS_JOURNAL` (default: a file in the user's data directory), or none when
`SONDOS_JOURNAL=off`. `check_setting(settings)` says, in one line, why the configured one cannot work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sondos_mcp import telemetry
from sondos_mcp.errors import JournalError, JournalSettingError
from sondos_mcp.journal.setting import check_setting, default_journal_path, sqlite_path
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

    return SqliteJournal(sqlite_path(settings), api=settings.api_base)


__all__ = [
    "OUTCOMES",
    "ChangeEntry",
    "ChangeFilter",
    "JournalError",
    "JournalSettingError",
    "JournalStore",
    "NewChange",
    "check_setting",
    "default_journal_path",
    "new_change_id",
    "new_set_id",
    "open_journal",
    "utc_now",
]
