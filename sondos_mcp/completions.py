"""completion/complete: values for every prompt argument and resource-template variable.

Read from the account as the tools read it (the lookups cache, the assistants walker, the
journal scoped by account), filtered by what was typed, and bounded: at most `MAX_VALUES`
values, with the total that matched.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mcp_types import CompleteRequestParams, CompleteResult, Completion, PromptReference

from sondos_mcp import assistants, prompts
from sondos_mcp.domain.undo import journal_of
from sondos_mcp.errors import InvalidArguments
from sondos_mcp.feedback import Problem
from sondos_mcp.journal import ChangeFilter
from sondos_mcp.policy import Policy
from sondos_mcp.resources import ASSISTANT_TEMPLATE, CHANGE_TEMPLATE
from sondos_mcp.schema import update_input_schema
from sondos_mcp.tools.base import ToolContext

MAX_VALUES = 20
MAX_TYPED = 100  # characters of a typed value looked at; a longer one matches nothing
RECENT_CHANGES = 100

GOALS = (
    "speak slower",
    "speak faster",
    "fewer interruptions",
    "shorter calls",
    "wait longer through silences",
    "a warmer greeting",
)

Choice = tuple[str, str]
"""(value inserted, label matched against): an assistant's id is matched by its name too."""

TEMPLATE_VARIABLES: dict[str, dict[str, str]] = {
    ASSISTANT_TEMPLATE: {"id": "assistant_id"},
    CHANGE_TEMPLATE: {"change_id": "change"},
}


def rank(choices: Iterable[Choice], typed: str) -> list[str]:
    """Values whose label starts with what was typed, then those with a word that does, then those
    that hold it anywhere; each in the source's order. Case is ignored."""
    text = typed.strip().casefold()
    tiers: tuple[list[str], list[str], list[str]] = ([], [], [])
    for value, label in choices:
        folded = label.casefold()
        if folded.startswith(text):
            tiers[0].append(value)
        elif any(word.startswith(text) for word in re.split(r"[\s/_\-(),.]+", folded)):
            tiers[1].append(value)
        elif text in folded:
            tiers[2].append(value)
    return list(dict.fromkeys(tiers[0] + tiers[1] + tiers[2]))


def _same(values: Iterable[str]) -> list[Choice]:
    return [(v, v) for v in values]


async def _assistants(ctx: ToolContext, with_names: bool) -> list[Choice]:
    rows = (await assistants.listing(ctx.lookups)).rows.values()
    labels = [(str(r["id"]), f"{r['id']} {r.get('name') or ''}".strip()) for r in rows]
    return [(label if with_names else value, label) for value, label in labels]


async def _names(ctx: ToolContext) -> list[Choice]:
    rows = (await assistants.listing(ctx.lookups)).rows.values()
    return _same(dict.fromkeys(str(r["name"]) for r in rows if r.get("name")))


async def _voices(ctx: ToolContext) -> list[Choice]:
    return _same(f"{v['id']} {v.get('name')} ({v.get('mode')})" for v in await ctx.lookups.voices() if "id" in v)


async def _named(load: Callable[[], Awaitable[list[dict[str, Any]]]]) -> list[Choice]:
    return _same(dict.fromkeys(str(r["name"]) for r in await load() if isinstance(r.get("name"), str)))


async def _phones(ctx: ToolContext) -> list[Choice]:
    rows = await ctx.lookups.phone_numbers()
    return _same(f"{p['id']} {p.get('phone_number')} ({p.get('type_label')})" for p in rows if "id" in p)


def _zones() -> list[Choice]:
    return _same(sorted(zoneinfo.available_timezones()))


async def _changes(ctx: ToolContext) -> list[Choice]:
    session = ctx.session()
    journal = await journal_of(session)
    entries = await journal.list(ChangeFilter(account=session.caller.account), RECENT_CHANGES)
    return [(e.id, f"{e.id} {e.assistant_id} {e.assistant_name or ''} {' '.join(e.fields)}") for e in entries]


def _days() -> list[Choice]:
    today = datetime.now(UTC).date()
    return _same((today - timedelta(days=n)).isoformat() for n in (0, 1, 7, 30))


def _settings(policy: Policy | None) -> list[Choice]:
    fields = update_input_schema()["properties"]
    return _same(f for f in fields if f not in ("id", "dry_run") and (policy is None or policy.field_allowed(f)))


async def _values(ctx: ToolContext, setting: str | None) -> list[Choice]:
    """Values for `setting` (from the prompt's other arguments): the account's own, or the schema's."""
    by_setting: dict[str, Callable[[], Awaitable[list[Choice]]]] = {
        "voice_id": lambda: _voices(ctx),
        "language": lambda: _named(ctx.lookups.languages),
        "llm_model": lambda: _named(ctx.lookups.models),
        "phone_number_id": lambda: _phones(ctx),
    }
    if setting is None:
        return []
    if setting in by_setting:
        return await by_setting[setting]()
    if setting == "timezone":
        return _zones()
    schema = update_input_schema()["properties"].get(setting) or {}
    if "enum" in schema:
        return _same(str(v) for v in schema["enum"])
    return _same(["true", "false"]) if schema.get("type") == "boolean" else []


async def _choices(ctx: ToolContext, kind: str, policy: Policy | None, context: Mapping[str, str]) -> list[Choice]:
    sources: dict[str, Callable[[], Awaitable[list[Choice]]]] = {
        "assistant": lambda: _assistants(ctx, with_names=True),
        "assistant_id": lambda: _assistants(ctx, with_names=False),
        "assistant_name": lambda: _names(ctx),
        "voice": lambda: _voices(ctx),
        "language": lambda: _named(ctx.lookups.languages),
        "model": lambda: _named(ctx.lookups.models),
        "change": lambda: _changes(ctx),
        "value": lambda: _values(ctx, context.get("setting")),
    }
    if kind in sources:
        return await sources[kind]()
    fixed: dict[str, Callable[[], list[Choice]]] = {
        "timezone": _zones,
        "goal": lambda: _same(GOALS),
        "since": _days,
        "setting": lambda: _settings(policy),
    }
    return fixed[kind]()


def _kind(params: CompleteRequestParams, policy: Policy | None) -> str:
    ref, name = params.ref, params.argument.name
    if isinstance(ref, PromptReference):
        spec = prompts.find(ref.name, policy)
        arg = next((a for a in spec.arguments if a.name == name), None)
        if arg is None:
            raise InvalidArguments(
                [Problem(field="argument.name", code="unknown_argument", message=f"{ref.name} has no {name}")]
            )
        return arg.completes
    variables = TEMPLATE_VARIABLES.get(ref.uri)
    if variables is None:
        raise InvalidArguments([Problem(field="ref.uri", code="unknown_template", message=f"no template {ref.uri!r}")])
    if name not in variables:
        raise InvalidArguments(
            [Problem(field="argument.name", code="unknown_argument", message=f"{ref.uri} has no {name}")]
        )
    return variables[name]


# The tool whose data a completion reads: it takes that tool's key and scope (OAuth mode). Kinds
# not listed read no account (goals, days, settings, time zones, a setting's schema values).
KIND_TOOLS = {
    "assistant": "list_assistants",
    "assistant_id": "list_assistants",
    "assistant_name": "list_assistants",
    "voice": "list_voices",
    "language": "list_languages",
    "model": "list_models",
    "change": "list_changes",
}
SETTING_TOOLS = {
    "voice_id": "list_voices",
    "language": "list_languages",
    "llm_model": "list_models",
    "phone_number_id": "list_phone_numbers",
}


def reads_as(params: CompleteRequestParams, policy: Policy | None = None) -> str | None:
    """The tool these completions read like, or None; raises `InvalidArguments` for an unknown ref."""
    kind = _kind(params, policy)
    if kind == "value":
        setting = (params.context.arguments or {}).get("setting") if params.context else None
        return SETTING_TOOLS.get(setting or "")
    return KIND_TOOLS.get(kind)


def nothing() -> CompleteResult:
    return CompleteResult(completion=Completion(values=[], total=0, has_more=False))


async def complete(ctx: ToolContext, params: CompleteRequestParams, policy: Policy | None = None) -> CompleteResult:
    kind = _kind(params, policy)
    typed = params.argument.value
    if len(typed) > MAX_TYPED:
        return nothing()
    context = (params.context.arguments if params.context else None) or {}
    matches = rank(await _choices(ctx, kind, policy, context), typed)
    values = matches[:MAX_VALUES]
    return CompleteResult(completion=Completion(values=values, total=len(matches), has_more=len(matches) > len(values)))
