"""Prompts for the work people do in an ops chat; each argument is completable (see `completions`).

Their text is short and uses the tools as they are: read, preview with dry_run, apply once the
person agrees, and name the change id that undoes it. Every prompt ends in a change, so a
read-only policy lists none of them, as it lists no write tool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mcp_types import GetPromptResult, ListPromptsResult, Prompt, PromptArgument, PromptMessage, TextContent

from sondos_mcp.bounds import escape_text
from sondos_mcp.errors import InvalidArguments
from sondos_mcp.feedback import Problem
from sondos_mcp.policy import Policy

MAX_ARGUMENT = 200  # characters of one argument: an id, a name, a short goal


@dataclass(frozen=True)
class Arg:
    name: str
    description: str
    # What completes it (a kind `completions` knows): assistant, goal, setting, value, voice, ...
    completes: str
    required: bool = True


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    arguments: tuple[Arg, ...]
    render: Callable[[Mapping[str, str]], str]


def _tune(a: Mapping[str, str]) -> str:
    return (
        f"Tune assistant {a['assistant']} toward this goal: {a['goal']}.\n"
        "1. Read its settings with get_assistant.\n"
        "2. Pick the fewest settings that serve the goal (pace: speech_speed; interruptions: allow_interruptions, "
        "interrupt_sensitivity, min_interrupt_words; call length: max_call_duration, max_silence_duration).\n"
        "3. Preview with update_assistant and dry_run: true; show me before → after and why.\n"
        "4. Once I agree, make the same call without dry_run and tell me the change id (undo_change reverts it)."
    )


def _review(a: Mapping[str, str]) -> str:
    which = f" to assistant {a['assistant']}" if a.get("assistant") else ""
    since = f" since {a['since']}" if a.get("since") else ""
    # A completed assistant reads "12 Riyadh Sales": the filter takes its id.
    ident = re.match(r"\d+", a.get("assistant", ""))
    filters = ", ".join(
        f for f in (f"assistant_id: {ident.group()}" if ident else "", f"since: {a['since']!r}" if since else "") if f
    )
    return (
        f"Review the recent changes{which}{since}.\n"
        f"1. Call list_changes{' with ' + filters if filters else ''}; summarise who changed what, before → after, "
        "and each outcome.\n"
        "2. Point out any change that looks wrong (failed, unknown, or against the assistant's purpose) and ask me "
        "which one to undo.\n"
        "3. For the one I name: undo_change with dry_run: true, show me what it restores, then undo_change without "
        "dry_run once I confirm."
    )


def _group(a: Mapping[str, str]) -> str:
    return (
        f"Set {a['setting']} to {a['value']} on every assistant named like {a['assistants']!r}, as one change set.\n"
        f"1. Call update_assistants with query: {a['assistants']!r}, changes: {{{a['setting']!r}: the value in the "
        "field's own type}, dry_run: true; show me each assistant's before → after.\n"
        "2. If any is refused, nothing is sent to any: apply the problems' fixes, or ask me where they ask.\n"
        "3. Once I agree, make the same call without dry_run; its change set id undoes them all at once."
    )


def _localize(a: Mapping[str, str]) -> str:
    extra = "".join(
        [f", voice {a['voice']}" if a.get("voice") else "", f", time zone {a['timezone']}" if a.get("timezone") else ""]
    )
    voice = "" if a.get("voice") else " Pick a voice for it with list_voices, of the assistant's engine mode."
    return (
        f"Move assistant {a['assistant']} to {a['language']}{extra}.\n"
        f"1. Read it with get_assistant.{voice}\n"
        f"2. Rewrite its initial_message (and system_prompt where it names a language) in {a['language']}.\n"
        "3. Preview with update_assistant and dry_run: true; show me before → after.\n"
        "4. Once I agree, apply it and tell me the change id (undo_change reverts it)."
    )


ASSISTANT = Arg("assistant", "Assistant id (and name)", "assistant")

PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec(
        "tune_assistant",
        "Tune an assistant",
        "Adjust one assistant toward a goal (slower, fewer interruptions, shorter calls), previewed first",
        (ASSISTANT, Arg("goal", "What should change, in your words", "goal")),
        _tune,
    ),
    PromptSpec(
        "review_changes",
        "Review recent changes",
        "Go through the journal of recent changes and undo a bad one",
        (
            Arg("assistant", "Only this assistant's changes", "assistant", required=False),
            Arg("since", "From this day (YYYY-MM-DD)", "since", required=False),
        ),
        _review,
    ),
    PromptSpec(
        "change_group",
        "Change a group of assistants",
        "Apply one setting to every assistant whose name matches, as one change set",
        (
            Arg("assistants", "Name filter, e.g. Campaign Agent", "assistant_name"),
            Arg("setting", "The update_assistant field to set", "setting"),
            Arg("value", "The new value", "value"),
        ),
        _group,
    ),
    PromptSpec(
        "localize_assistant",
        "Move an assistant to another language",
        "Switch one assistant's language, and with it its voice, greeting and time zone",
        (
            ASSISTANT,
            Arg("language", "Language name", "language"),
            Arg("voice", "Voice (id and name)", "voice", required=False),
            Arg("timezone", "IANA time zone", "timezone", required=False),
        ),
        _localize,
    ),
)
PROMPTS_BY_NAME = {p.name: p for p in PROMPTS}


def offered(policy: Policy | None) -> tuple[PromptSpec, ...]:
    """The prompts a caller may use: none under a read-only policy (each one ends in a change)."""
    return () if policy is not None and policy.read_only else PROMPTS


def prompt_listing(policy: Policy | None = None) -> ListPromptsResult:
    return ListPromptsResult(
        prompts=[
            Prompt(
                name=p.name,
                title=p.title,
                description=p.description,
                arguments=[
                    PromptArgument(name=a.name, description=a.description, required=a.required) for a in p.arguments
                ],
            )
            for p in offered(policy)
        ]
    )


def find(name: str, policy: Policy | None) -> PromptSpec:
    spec = PROMPTS_BY_NAME.get(name)
    if spec is None or spec not in offered(policy):
        raise InvalidArguments(
            [Problem(field="name", code="unknown_prompt", message=f"no prompt {name!r}; see prompts/list")]
        )
    return spec


def get_prompt(name: str, arguments: Mapping[str, str] | None, policy: Policy | None = None) -> GetPromptResult:
    """The prompt's message with the arguments filled in; refused if one is missing, unknown or too long."""
    spec = find(name, policy)
    given = {k: v.strip() for k, v in (arguments or {}).items()}
    known = {a.name for a in spec.arguments}
    problems = [
        Problem(field=k, code="unknown_argument", message=f"{spec.name} takes {', '.join(sorted(known))}")
        for k in given
        if k not in known
    ]
    problems += [
        Problem(field=a.name, code="missing", message="required")
        for a in spec.arguments
        if a.required and not given.get(a.name)
    ]
    problems += [
        Problem(field=k, code="too_long", message=f"at most {MAX_ARGUMENT} characters")
        for k, v in given.items()
        if len(v) > MAX_ARGUMENT
    ]
    if problems:
        raise InvalidArguments(problems)
    values = {k: escape_text(v) for k, v in given.items() if v}
    return GetPromptResult(
        description=spec.description,
        messages=[PromptMessage(role="user", content=TextContent(text=spec.render(values)))],
    )
