"""The journal tools as listed: annotations, token budget of the whole tools/list."""

from __future__ import annotations

import json

import pytest
from mcp import Client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("name", "hints"),
    [
        ("list_changes", (True, False, True, False)),
        ("undo_change", (False, True, False, True)),
        ("update_assistants", (False, True, True, True)),
    ],
)
async def test_journal_tools_are_annotated_for_what_they_do(client: Client, name: str, hints: tuple[bool, ...]):
    """list_changes reads the local journal only; undo_change and update_assistants change live assistants."""
    (tool,) = [t for t in (await client.list_tools()).tools if t.name == name]
    a = tool.annotations
    assert a is not None
    assert (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint) == hints


async def test_whole_tools_list_fits_its_token_budget_with_the_journal_tools(client: Client):
    """tools/list, with list_changes, undo_change and update_assistants, stays within 2,500 o200k tokens."""
    import bpe_openai

    listed = (await client.list_tools()).tools
    assert {"list_changes", "undo_change", "update_assistants"} <= {t.name for t in listed}
    wire = json.dumps(
        [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed], separators=(",", ":")
    )
    assert len(bpe_openai.get_encoding("o200k_base").encode(wire)) <= 2500
