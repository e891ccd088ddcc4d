"""The stored shape of an assistant, read in the update vocabulary, and the before → after diff.

The list endpoint returns assistants in their stored shape, which names and encodes fields
differently from the update body. Only the mappings the public material calls plain are applied; a field
that cannot be read plainly is reported as unknown, never guessed. Each field's stored name and
spellings are declared with the field in the model (its kind's `stored`, `stored_values`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, JsonValue

from sondos_mcp.model import UPDATE_FIELDS
from sondos_mcp.vocabulary import STORED_VALUES, SWITCHES, UPDATE_NAME


def _plain(field: str, value: Any) -> tuple[bool, Any]:
    """(known, value in update vocabulary) for one stored value."""
    spelled = STORED_VALUES.get(field)
    if spelled is not None:
        return (isinstance(value, str) and value in spelled, spelled.get(value) if isinstance(value, str) else None)
    if field in SWITCHES:
        # Stored booleans come as 1/0 (as `fillers` does); true/false read as themselves.
        if isinstance(value, bool):
            return True, value
        if value in (0, 1):
            return True, bool(value)
        return False, None
    return True, value


def stored_to_update(stored: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a stored assistant into update-named settings and the rest (kept under their own names)."""
    settings: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for name, value in stored.items():
        field = UPDATE_NAME.get(name, name)
        if field in UPDATE_FIELDS:
            known, plain = _plain(field, value)
            if known:
                settings[field] = plain
                continue
        if name != "id":
            other[name] = value
    return settings, other


class Change(BaseModel):
    field: str
    before: JsonValue = None
    before_known: bool
    after: JsonValue
    changed: bool | None = None
    # Where the before-value is known from: the API's list, or what this journal last set (when).
    source: str | None = None
    set_at: str | None = None


def render(value: Any, known: bool = True, limit: int = 80) -> str:
    """A value as the agent and the person read it in text: JSON, cut at `limit` characters."""
    if not known:
        return "unknown"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_known(value: Any, source: str, at: str | None) -> str:
    """A value with where it is known from, for the agent and the person."""
    text = render(value)
    if source == "journal":
        when = f" at {at[:16]}Z" if at else ""
        return f"{text} (last set here{when}; changes made elsewhere since are not visible)"
    return text
