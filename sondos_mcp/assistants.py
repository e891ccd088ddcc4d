"""An account's assistants as the API shows them: the one walker over the paged list.

No single-assistant endpoint exists, so every reading of an assistant (get, list by name, the
preview, before-values, undo, change sets) walks the list here, through the lookups' cache (one
cache, keyed by the account's key fingerprint). The walk trusts nothing the upstream claims: it
fetches at most `max_pages` pages whatever `last_page` says, takes `last_page` only when it is a
positive integer (or its digits), stops at an empty page, and keeps the first row seen per id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from sondos_mcp.errors import PagingLimit
from sondos_mcp.references import Lookups, rows_of

PAGE = 100  # the largest page the list endpoint serves


@dataclass(frozen=True)
class Listing:
    """Every assistant of the account, by id, in the order the API listed them."""

    rows: dict[int, dict[str, Any]]

    def get(self, assistant_id: int) -> dict[str, Any] | None:
        return self.rows.get(assistant_id)

    def matching(self, query: str) -> list[dict[str, Any]]:
        """Rows whose name holds every word of `query`, case-insensitively."""
        words = query.casefold().split()
        return [r for r in self.rows.values() if all(w in str(r.get("name") or "").casefold() for w in words)]


def last_page(answer: Any, page: int) -> int:
    """The page count an answer claims, when it claims one plainly; else this page is the last."""
    value = answer.get("last_page") if isinstance(answer, Mapping) else None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if type(value) is int and value >= page else page


def paging_limit(max_pages: int, last: int) -> PagingLimit:
    return PagingLimit(
        f"Stopped after {max_pages} pages of assistants; the API reports {last}",
        hint="Use list_assistants with page= to look further, or raise SONDOS_MAX_PAGES.",
    )


async def _rows(lookups: Lookups, *, whole: bool) -> AsyncIterator[dict[str, Any]]:
    """Each row once, page by page. With `whole`, a list longer than the page bound is refused
    before any page past the first is fetched; otherwise the walk stops at the bound."""
    seen: set[int] = set()
    page, last = 1, 1
    while page <= last:
        if page > lookups.max_pages:
            raise paging_limit(lookups.max_pages, last)
        answer = await lookups.assistant_page(page, PAGE)
        rows = rows_of(answer)
        last = last_page(answer, page) if rows else page
        if whole and last > lookups.max_pages:
            raise paging_limit(lookups.max_pages, last)
        for row in rows:
            assistant_id = row.get("id")
            if type(assistant_id) is int and assistant_id not in seen:
                seen.add(assistant_id)
                yield row
        page += 1


async def find(lookups: Lookups, assistant_id: int, *, fresh: bool = False) -> dict[str, Any] | None:
    """One assistant's stored row, or None when the account's list does not hold it.

    `fresh` reads past the cache: for a decision about what is stored now (before-values, undo).
    """
    if fresh:
        lookups.forget_assistants()
    async for row in _rows(lookups, whole=False):
        if row["id"] == assistant_id:
            return row
    return None


def known(lookups: Lookups) -> Listing | None:
    """The whole list as this process already holds it (every page cached and unexpired), or None.

    Never makes a request: a check that may use the list when it is known costs a valid change nothing.
    """
    rows: dict[int, dict[str, Any]] = {}
    page, last = 1, 1
    while page <= last and page <= lookups.max_pages:
        answer = lookups.cached_assistant_page(page, PAGE)
        if answer is None:
            return None
        page_rows = rows_of(answer)
        last = last_page(answer, page) if page_rows else page
        for row in page_rows:
            if type(row.get("id")) is int:
                rows.setdefault(row["id"], row)
        page += 1
    return Listing(rows) if page > last else None


async def listing(lookups: Lookups, *, fresh: bool = False) -> Listing:
    """The whole list, read once (a change set reads it once, not once per member)."""
    if fresh:
        lookups.forget_assistants()
    return Listing({row["id"]: row async for row in _rows(lookups, whole=True)})
