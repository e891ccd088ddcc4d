"""What a domain function may use for one call: built by the adapter, never reached through globals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sondos_mcp.client import SondosApi
from sondos_mcp.confirm import Item
from sondos_mcp.errors import ConfirmationRequired
from sondos_mcp.references import Lookups
from sondos_mcp.trust import Caller, Trust

Confirm = Callable[[Sequence[Item], str], Awaitable[None]]
"""Ask the person to confirm these changes; returns when they accepted, raises otherwise."""

Progress = Callable[[int, int, str], Awaitable[None]]


async def cannot_ask(items: Sequence[Item], verb: str) -> None:
    raise ConfirmationRequired(
        "This change needs the person's confirmation by policy, and there is no one to ask; nothing was sent",
        hint="Use a client with elicitation support, or ask the server's operator to change the policy.",
    )


@dataclass(frozen=True)
class Session:
    api: SondosApi
    lookups: Lookups
    trust: Trust
    caller: Caller
    confirm: Confirm = cannot_ask
    progress: Progress | None = None
