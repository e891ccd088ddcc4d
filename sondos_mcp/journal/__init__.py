"""The change journal: every change sent upstream, recorded before and after the call.

`open_journal(settings)` picks the store: PostgreSQL when `SONDOS_JOURNAL_URL` is set, else
SQLite at `SONDOS_JOURNAL` (default: a file in the user's data directory), or none when
`SONDOS_JOURNAL=off`. `check_setting(settings)` says, in one line, why the configured one cannot work.
"""

from __future__ import annotations

from sondos_mcp.journal.setting import JournalSettingError, check_setting
from sondos_mcp.journal.store import (
    OUTCOMES,
    ChangeEntry,
    ChangeFilter,
    JournalError,
    JournalStore,
    NewChange,
    default_journal_path,
    new_change_id,
    new_set_id,
    open_journal,
    utc_now,
)

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
