"""Judging one update_assistant proposal for a caller: contract, rules, live references, policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sondos_mcp import assistants
from sondos_mcp.checking import CheckContext, Proposal, Stage, Verdict, check_proposal
from sondos_mcp.domain.session import Session
from sondos_mcp.errors import SondosError
from sondos_mcp.policy import OPEN, Policy
from sondos_mcp.preview import stored_to_update
from sondos_mcp.schema import update_input_schema

RowOf = Callable[[int], Awaitable[dict[str, Any] | None]]
"""An assistant's stored row by id (None when absent or unreadable)."""


def rows_from_api(session: Session) -> RowOf:
    """Rows through the one walker (cached); a step that can do without the row gets None on failure."""

    async def row_of(assistant_id: int) -> dict[str, Any] | None:
        try:
            return await assistants.find(session.lookups, assistant_id)
        except SondosError:
            return None

    return row_of


async def check_update(session: Session, raw: Mapping[str, Any], row_of: RowOf | None = None) -> Verdict:
    """Judge one proposal: contract, rules, live references and the caller's policy."""
    row_of = row_of or rows_from_api(session)

    async def assistant_mode(assistant_id: int) -> str | None:
        row = await row_of(assistant_id)
        return row.get("mode") if row else None

    async def current(assistant_id: int) -> dict[str, Any] | None:
        row = await row_of(assistant_id)
        return stored_to_update(row)[0] if row else None

    policy = session.caller.policy
    if policy is OPEN:
        context = CheckContext(update_input_schema(), session.lookups, assistant_mode, current_settings=current)
        return await check_proposal(raw, context)

    async def assistant_name(assistant_id: int) -> str | None:
        row = await row_of(assistant_id)
        return row.get("name") if row else None

    context = CheckContext(
        policy.narrow(update_input_schema()), session.lookups, assistant_mode, current_settings=current
    )
    return await check_proposal(raw, context, (policy_stage(policy, assistant_name),))


def policy_stage(policy: Policy, assistant_name: Callable[[int], Awaitable[str | None]]) -> Stage:
    """The pipeline's last stage: what the proposal, as resolved, may not do under `policy`."""

    async def stage(p: Proposal) -> None:
        assistant_id = p.resolved.get("id") if type(p.resolved.get("id")) is int else None
        name = None
        if assistant_id is not None and policy.rules.allowed_assistants is not None:
            name = await assistant_name(assistant_id)
        p.problems += policy.problems(p.context.schema, p.resolved, assistant_id, name)

    return stage
