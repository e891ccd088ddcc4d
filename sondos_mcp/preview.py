"""The stored shape of an assistant, read in the update vocabulary, and the before → after diff.

The list endpoint returns assistants in their stored shape, which names and encodes fields
differently from the update body. Only the mappings the public material calls plain are applied; a field
that cannot be read plainly is reported as unknown, never guessed. Each field's stored name and
spellings are declared with the field in the model (its kind's `stored`, `stored_values`).
"""

from __future__ import annotations

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


def diff(stored: Mapping[str, Any], body: Mapping[str, Any]) -> list[Change]:
    """Per field of the update: its current value (when readable), the proposed one, and whether it changes."""
    settings, _ = stored_to_update(stored)
    changes = []
    for field, after in body.items():
        if field in settings:
            before = settings[field]
            changes.append(Change(field=field, before=before, before_known=True, after=after, changed=before != after))
        else:
            changes.append(Change(field=field, before_known=False, after=after))
    return changes
