"""Confirmation by the person, not the agent: an MCP elicitation form before a change is sent.

Policy decides when to ask. The form shows the assistant and each field's before → after;
only accept with apply = true (the boolean) applies, anything else sends nothing
(`declined_by_user`). A client that cannot ask its user gets `confirmation_required`, never a
silent apply.

Two ways to ask, by protocol: on a session with a back-channel (stdio, protocol versions up to
2025-11-25) the server sends `elicitation/create` and waits; on 2026-07-28 and later the tool
call answers `input_required` and the client calls again carrying the person's answer, which
is bound to this exact change by a digest in `request_state`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types

from sondos_mcp.errors import SondosError

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

_KEY = "confirm_change"
_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {"apply": {"type": "boolean", "title": "Apply this change", "default": True}},
    "required": ["apply"],
}


class DeclinedByUser(SondosError):
    """The person declined or cancelled the change; nothing was sent."""

    kind = "declined_by_user"


class ConfirmationRequired(SondosError):
    """Policy wants the person to confirm, and this client cannot ask them."""

    kind = "confirmation_required"


class NeedsInput(Exception):
    """Ends the call with `input_required`; the client asks the person and calls again."""

    def __init__(self, result: types.InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


@dataclass(frozen=True)
class Item:
    """One assistant's part of what the person is asked to confirm."""

    assistant_id: int
    assistant_name: str | None
    lines: list[tuple[str, str, str]]  # field, before, after (already rendered)


def message_for(items: Sequence[Item], verb: str = "Change") -> str:
    head = f"{verb} {len(items)} assistants?" if len(items) > 1 else f"{verb} this assistant?"
    out = [head]
    for item in items:
        out.append(f"Assistant {item.assistant_id} ({item.assistant_name or 'unnamed'}):")
        out += [f"  {field}: {before} → {after}" for field, before, after in item.lines]
    return "\n".join(out)


# How long a person may take to answer; the call's own deadline is paused meanwhile.
PERSON_WAIT = 600


@contextmanager
def _person_time(deadline: anyio.CancelScope | None) -> Iterator[None]:
    """The person's time to answer does not count against the call's deadline (meant for the API)."""
    if deadline is None:
        yield
        return
    remaining = deadline.deadline - anyio.current_time()
    deadline.deadline = math.inf
    try:
        yield
    finally:
        deadline.deadline = anyio.current_time() + max(remaining, 0.0)


def _digest(message: str) -> str:
    return hashlib.sha256(message.encode()).hexdigest()[:32]


def carried_answer(params: Any, key: str) -> tuple[types.ElicitResult | None, str | None]:
    """The answer a retried call carries under `key` (2026-07-28's input responses), and its request state."""
    if not params:
        return None, None
    try:
        parsed = types.CallToolRequestParams.model_validate(params)
    except ValueError:
        return None, None
    answer = (parsed.input_responses or {}).get(key)
    return (answer if isinstance(answer, types.ElicitResult) else None), parsed.request_state


def _answer_in(params: Any, digest: str) -> types.ElicitResult | None:
    """The person's answer carried by a retried call, if it is for this very change."""
    answer, state = carried_answer(params, _KEY)
    if answer is not None and state == digest:
        return answer
    return None


async def ask(
    request: ServerRequestContext[Any] | None,
    items: Sequence[Item],
    verb: str = "Change",
    *,
    deadline: anyio.CancelScope | None = None,
) -> None:
    """Return when the person accepted; otherwise raise (declined, cannot ask, or ask and call again)."""
    message = message_for(items, verb)
    session = request.session if request is not None else None
    caps = session.client_capabilities if session is not None else None
    if request is None or session is None or caps is None or caps.elicitation is None:
        raise ConfirmationRequired(
            "This change needs the person's confirmation by policy, and this client cannot ask them "
            "(it does not support MCP elicitation); nothing was sent",
            hint="Use a client with elicitation support, or ask the server's operator to change the policy.",
        )
    digest = _digest(message)
    answer = _answer_in(request.params, digest)
    if answer is None:
        if session.can_send_request:
            with _person_time(deadline), anyio.move_on_after(PERSON_WAIT):
                answer = await session.elicit_form(message, _FORM, related_request_id=request.request_id)
            if answer is None:
                raise DeclinedByUser(
                    f"No answer from the person within {PERSON_WAIT // 60} minutes; nothing was sent",
                    hint="Ask again when they are there.",
                )
        elif request.protocol_version >= "2026-07-28":
            elicit = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=_FORM))
            raise NeedsInput(types.InputRequiredResult(input_requests={_KEY: elicit}, request_state=digest))
        else:
            raise ConfirmationRequired(
                "This change needs the person's confirmation by policy, and this connection cannot carry the "
                "question (a stateless HTTP session on a protocol before 2026-07-28); nothing was sent",
                hint="Connect over stdio or with protocol 2026-07-28, or ask the operator to change the policy.",
            )
    # Only a clear yes applies: accept with apply = true, the boolean. Anything else (no content,
    # no apply, "no", 0, "false", "true"...) is a no; nothing is sent on a guess.
    if answer.action != "accept" or (answer.content or {}).get("apply") is not True:
        what = "declined" if answer.action in ("accept", "decline") else "cancelled"
        raise DeclinedByUser(f"The person {what} the change; nothing was sent", hint="Do not retry unless asked to.")
