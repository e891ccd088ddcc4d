"""The one checking pipeline for `update_assistant` proposals, returning one verdict.

A proposal runs through stages, each of which may add or refine problems:

1. names: fields given under another name (`speed`, `voice`, `maxDurationSeconds`) are resolved
   to the documented one, converting a unit the name carries; two values for one field conflict;
2. contract: `UpdateAssistantArgs` on the resolved proposal (types, bounds, enums, lengths);
3. rules: the cross-field rules and checks JSON Schema cannot say (an active webhook needs a URL,
   something to change, a real IANA timezone);
4. references: live checks against the account (voices for the engine the proposal ends up with,
   phone numbers, languages, models), turning names and digits into ids;
5. any `extra_stages` the caller adds (a policy, for instance), after the built-in ones.

Each problem carries what the value may have meant (a fix, or ranked candidates). When every
problem has exactly one reading, the fixes are applied and the result is run through the same
stages again, live references included; only if it then passes is it offered as `suggested`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from pydantic import ValidationError

from sondos_mcp.feedback import FeedbackBuilder, Fix, Notice, Problem, apply_fixes
from sondos_mcp.model import NOTHING_TO_UPDATE, TOOL_ONLY, WEBHOOK_CONFLICT, UpdateAssistantArgs
from sondos_mcp.references import Lookups, check_references
from sondos_mcp.vocabulary import NESTED_NAMES, NUMBER_KIND, field_for, judge_timezone, parse_number_text


@dataclass
class CheckContext:
    """What the checks may consult: the advertised schema, and for live checks the lookups."""

    schema: Mapping[str, Any]
    lookups: Lookups | None = None
    # The engine an assistant runs now (by id), asked only when a voice must be judged against it.
    assistant_mode: Callable[[int], Awaitable[str | None]] | None = None


@dataclass
class Proposal:
    """One proposal on its way through the stages."""

    raw: Mapping[str, Any]
    context: CheckContext
    # The proposal with every field under its documented name (what the later stages judge).
    resolved: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)
    args: UpdateAssistantArgs | None = None
    renamed: bool = False  # some field was given under another name
    given_as: dict[str, str] = field(default_factory=dict)  # documented name -> the name the agent used

    @property
    def builder(self) -> FeedbackBuilder:
        return FeedbackBuilder(self.context.schema, self.resolved)

    def problem_at(self, path: str) -> Problem | None:
        return next((p for p in self.problems if p.field == path), None)

    def effective(self, name: str) -> Any:
        """A top-level value as its fix reads it, or as given."""
        problem = self.problem_at(name)
        if problem is not None and problem.fix is not None and problem.fix.field == name:
            return problem.fix.value
        return self.resolved.get(name)


# One step of the pipeline: reads the proposal and adds to (or refines) its problems.
Stage: TypeAlias = Callable[[Proposal], Awaitable[None]]


@dataclass
class Verdict:
    args: UpdateAssistantArgs | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)
    suggested: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.args is not None and not self.problems

    @property
    def candidates(self) -> list[Fix]:
        return [c for p in self.problems for c in p.candidates or []]


async def check_proposal(raw: Mapping[str, Any], context: CheckContext, extra_stages: Sequence[Stage] = ()) -> Verdict:
    """Judge one proposal completely: every problem at once, and a suggestion only when it passes."""
    proposal = await _run(raw, context, extra_stages)
    suggested = None
    if proposal.problems:
        suggested = await _suggest(proposal, context, extra_stages)
    args = proposal.args if not proposal.problems else None
    return Verdict(args, proposal.problems, proposal.warnings, suggested)


async def _run(raw: Mapping[str, Any], context: CheckContext, extra_stages: Sequence[Stage]) -> Proposal:
    proposal = Proposal(raw=raw, context=context)
    for stage in (*STAGES, *extra_stages):
        await stage(proposal)
    return proposal


# A fix can uncover another inside the value it fixed (an entry wrapped in a list then has a
# misspelt type): those nested problems, each with one reading too, are fixed in further rounds.
# Anything else the re-check finds means no suggestion: the agent was not told of it.
FIX_ROUNDS = 3


async def _suggest(proposal: Proposal, context: CheckContext, extra_stages: Sequence[Stage]) -> dict[str, Any] | None:
    current, fixed_paths = proposal, None
    for _ in range(FIX_ROUNDS):
        if any(p.fix is None for p in current.problems):
            return None
        if fixed_paths is not None and not all(_under(p.field, fixed_paths) for p in current.problems):
            return None
        # Renames are already in `resolved`; the other fixes are set on it at their (resolved) paths.
        fixes = [p.fix for p in current.problems if p.fix is not None and p.code != "unknown_field"]
        suggested = apply_fixes(current.resolved, fixes)
        if suggested is None:
            return None
        fixed_paths = {f.field for f in fixes}
        current = await _run(suggested, context, extra_stages)
        if not current.problems and current.args is not None:
            return suggested
    return None


def _under(path: str, parents: set[str]) -> bool:
    return any(path.startswith(parent + ".") for parent in parents)


# --- stages ----------------------------------------------------------------------------------


CONTRACT_NAMES = tuple(UpdateAssistantArgs.model_fields)


async def resolve_names(p: Proposal) -> None:
    """Map every field to its documented name; a unit in the name converts the value."""
    # The contract's names, not the advertised schema's: a field a policy hides is still this
    # field, and is refused by the policy stage as such rather than as an unknown name.
    props = CONTRACT_NAMES
    if all(key in props for key in p.raw):
        # The common case: every name is documented. Nested containers are copied only if renamed.
        p.resolved = dict(p.raw)
        _resolve_nested(p)
        return
    targets: dict[str, list[tuple[str, Any, str]]] = {}  # documented name -> (given name, value, reading)
    unknown: list[str] = []
    for key, value in p.raw.items():
        if key in props:
            targets.setdefault(key, []).append((key, value, ""))
            continue
        found = field_for(key, props)
        if found is None:
            unknown.append(key)
            continue
        name, unit = found
        converted, how = _convert(name, value, unit)
        reading = f"{key} is this API's {name}" + (f"; {how}" if how else "")
        targets.setdefault(name, []).append((key, converted, reading))
    builder = FeedbackBuilder(p.context.schema, p.raw)
    resolved: dict[str, Any] = {}
    for name, given in targets.items():
        values = [v for _, v, _ in given]
        agree = all(_same(v, values[0]) for v in values)
        if not agree:
            # Two values for one field: which one the person meant is theirs to say.
            shown = ", ".join(f"{k} = {v!r}" for k, v, _ in given)
            for key, _, _ in given:
                p.problems.append(
                    builder.problem(key, "conflict", f"{name} is given more than once ({shown}); give one")
                )
        for key, value, reading in given:
            if key == name:
                continue
            p.renamed = True
            p.given_as.setdefault(name, key)
            if agree:
                fix = Fix(field=name, value=value, interpretation=reading)
                p.problems.append(builder.problem(key, "unknown_field", f"unknown field; did you mean {name}?", fix))
        resolved[name] = values[0]
    for key in unknown:
        p.renamed = True
        p.problems.append(
            builder.problem(key, "unknown_field", "unknown field; see the tool's input schema for the accepted names")
        )
    # Keep the agent's order: each field where it (or its first alias) was given.
    order = {name: min(list(p.raw).index(k) for k, _, _ in given) for name, given in targets.items()}
    p.resolved = {k: resolved[k] for k in sorted(resolved, key=order.__getitem__)}
    _resolve_nested(p)


def _resolve_nested(p: Proposal) -> None:
    """The same for the keys inside post_call_schema entries and end_call_tool."""
    builder = p.builder
    containers: list[tuple[str, str, Any]] = []
    entries = p.resolved.get("post_call_schema")
    if isinstance(entries, list):
        containers += [(f"post_call_schema.{i}", "post_call_schema.*", e) for i, e in enumerate(entries)]
    if isinstance(p.resolved.get("end_call_tool"), dict):
        containers.append(("end_call_tool", "end_call_tool", p.resolved["end_call_tool"]))
    for path, scope, node in containers:
        if not isinstance(node, dict):
            continue
        valid = list(NESTED_NAMES[scope])
        if all(key in valid for key in node):
            continue
        renamed: dict[str, Any] = {}
        for key, value in node.items():
            found = field_for(key, valid, scope) if key not in valid else (key, None)
            target = found[0] if found else key
            if target != key and target not in node and target not in renamed:
                fix = Fix(field=f"{path}.{target}", value=value, interpretation=f"{key} means {target} here")
                p.problems.append(
                    builder.problem(f"{path}.{key}", "unknown_field", f"did you mean {target}?", fix, received=value)
                )
                p.renamed = True
                renamed[target] = value
            else:
                renamed[key] = value
        _replace(p.resolved, path, renamed)


def _replace(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set `path` in `doc`, copying the containers on the way so the caller's arguments stay untouched."""
    top, _, rest = path.partition(".")
    if not rest:
        doc[top] = value
        return
    items = list(doc[top])
    items[int(rest)] = value
    doc[top] = items


def _convert(name: str, value: Any, unit: str | None) -> tuple[Any, str]:
    """A value given under a name that carries a unit (`…_minutes`, `…Ms`), in the field's own unit."""
    if unit is None:
        return value, ""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        parsed = parse_number_text(value)
        if parsed is not None and parsed[1] is None:
            number = parsed[0]
    if number is None:
        return value, ""
    factor = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "%": 0.01}[unit]
    converted = round(number * factor, 6)
    out: int | float = int(converted) if converted.is_integer() else converted
    what = "seconds" if NUMBER_KIND.get(name) == "seconds" else ""
    if unit == "s" or factor == 1:
        return out, ""
    return out, f"{_fmt(number)} {unit} = {_fmt(out)}{' ' + what if what else ''}"


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 600 and 600.0 agree, true and 1 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


async def contract(p: Proposal) -> None:
    """The documented contract, judged by the model the tool's schema is generated from."""
    try:
        args = UpdateAssistantArgs.model_validate(p.resolved)
    except ValidationError as exc:
        for problem in p.builder.from_validation_error(exc):
            alias = p.given_as.get(problem.field.split(".", 1)[0])
            if alias is not None:
                problem.message += f" (given as {alias})"
            p.problems.append(problem)
        return
    # A proposal that needed renaming is not what the agent sent: never forwarded as is.
    p.args = None if p.renamed else args


async def rules(p: Proposal) -> None:
    """The cross-field rules and the checks beyond JSON Schema, on the resolved proposal."""
    builder = p.builder
    r = p.resolved
    url = p.problem_at("webhook_url")
    # Judged on the values as their fixes read them ("true", "null"), so the conflict is told now.
    if p.effective("is_webhook_active") is True and "webhook_url" in r and p.effective("webhook_url") is None:
        # Both values were asked for explicitly; turning the webhook off instead is not a fix.
        if url is not None:
            p.problems.remove(url)
        p.problems.append(
            builder.problem(
                "webhook_url",
                "conflict",
                WEBHOOK_CONFLICT + ": give the webhook's URL, or set is_webhook_active false to turn it off",
            )
        )
    if not set(p.raw) - set(TOOL_ONLY):
        p.problems.append(builder.problem("", "nothing_to_update", NOTHING_TO_UPDATE, received=dict(p.raw)))
    tz = r.get("timezone")
    if isinstance(tz, str) and p.problem_at("timezone") is None:
        verdict = judge_timezone(tz)
        if verdict.warning:
            p.warnings.append(Notice(code="timezone", fields=["timezone"], message=verdict.warning))
        if not verdict.ok:
            code = "ambiguous_timezone" if verdict.readings.candidates else "unknown_timezone"
            p.problems.append(
                builder.read(
                    "timezone", code, "not an IANA timezone name (Region/City, e.g. Asia/Riyadh)", verdict.readings
                )
            )


async def references(p: Proposal) -> None:
    """Live checks of voice, phone number, language and model against the account."""
    if p.context.lookups is None:
        return
    # The assistant this proposal is about: its id as resolved (and fixed), so that a suggestion
    # is judged against the same assistant as the proposal it came from.
    assistant_id = p.effective("id")
    mode_of = p.context.assistant_mode

    async def current_mode() -> str | None:
        if mode_of is None or type(assistant_id) is not int:
            return None
        return await mode_of(assistant_id)

    p.problems, warnings = await check_references(p.context.lookups, p.builder, p.resolved, p.problems, current_mode)
    p.warnings += warnings


STAGES: tuple[Stage, ...] = (resolve_names, contract, rules, references)
