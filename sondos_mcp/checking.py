"""The one checking pipeline for `update_assistant` proposals, returning one verdict.

A proposal runs through stages, each of which may add or refine problems:

1. names: fields given under another name (`speed`, `voice`, `maxDurationSeconds`, another
   platform's `stopSpeakingPlan.numWords`, a nested `end_call_tool.description`) are resolved to the
   documented one, converting a unit the name carries (or negating a `block_…` switch); two values
   for one field conflict; a name two fields go by is a question;
2. contract: `UpdateAssistantArgs` on the resolved proposal (types, bounds, enums, lengths);
3. rules: the cross-field rules and checks JSON Schema cannot say (an active webhook needs a URL,
   something to change, a real IANA timezone, a URL that is a URL);
4. references: live checks against the account (the assistant, when its list is known; voices for
   the engine the proposal ends up with, phone numbers, languages, models), turning names, digits,
   list ids and whole pasted entries into what the API wants;
5. any `extra_stages` the caller adds (a policy, for instance), after the built-in ones.

Each problem carries what the value may have meant (a fix, or ranked candidates). When every
problem has exactly one reading, the fixes are applied and the result is run through the same
stages again, live references included; only if it then passes is it offered as `suggested`.

What each field is (its kind, names, units, scale) is read from the model the proposal is judged
by (`CheckContext.model`, the update contract), never listed here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from pydantic import BaseModel, ValidationError

from sondos_mcp import assistants
from sondos_mcp.errors import SondosError
from sondos_mcp.feedback import FeedbackBuilder, Fix, Notice, Problem, apply_fixes
from sondos_mcp.model import NOTHING_TO_UPDATE, TOOL_ONLY, WEBHOOK_CONFLICT, UpdateAssistantArgs
from sondos_mcp.references import Lookups, check_references, nearby_assistants
from sondos_mcp.vocabulary import Knowledge, Named, judge_timezone, knowledge, parse_number_text
from sondos_mcp.vocabulary_kinds import Entries, Number, Object, Pairs, Reference, Url, Zone, truth, url_problem
from sondos_mcp.vocabulary_readings import fmt


@dataclass
class CheckContext:
    """What the checks may consult: the advertised schema, and for live checks the lookups."""

    schema: Mapping[str, Any]
    lookups: Lookups | None = None
    # The engine an assistant runs now (by id), asked only when a voice must be judged against it.
    assistant_mode: Callable[[int], Awaitable[str | None]] | None = None
    # The model the proposal is judged by; its fields' declared kinds say how values are read.
    model: type[BaseModel] = UpdateAssistantArgs
    # What an assistant's fields hold now as the API shows them (by id), to say which candidate is
    # the current value; asked only when a problem offers candidates.
    current_settings: Callable[[int], Awaitable[Mapping[str, Any] | None]] | None = None


@dataclass
class Proposal:
    """One proposal on its way through the stages."""

    raw: Mapping[str, Any]
    context: CheckContext
    # The proposal with every field under its documented name (what the later stages judge).
    resolved: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)
    args: BaseModel | None = None
    renamed: bool = False  # some field was given under another name
    given_as: dict[str, str] = field(default_factory=dict)  # documented name -> the name the agent used

    @property
    def builder(self) -> FeedbackBuilder:
        return FeedbackBuilder(self.context.schema, self.resolved, self.context.model)

    @property
    def knows(self) -> Knowledge:
        return knowledge(self.context.model)

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
    accepted: BaseModel | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)
    suggested: dict[str, Any] | None = None

    @property
    def args(self) -> UpdateAssistantArgs | None:
        """The accepted arguments of the update contract (None for a proposal judged by another model)."""
        return self.accepted if isinstance(self.accepted, UpdateAssistantArgs) else None

    @property
    def ok(self) -> bool:
        return self.accepted is not None and not self.problems

    @property
    def candidates(self) -> list[Fix]:
        return [c for p in self.problems for c in p.candidates or []]


async def check_proposal(raw: Mapping[str, Any], context: CheckContext, extra_stages: Sequence[Stage] = ()) -> Verdict:
    """Judge one proposal completely: every problem at once, and a suggestion only when it passes."""
    proposal = await _run(raw, context, extra_stages)
    suggested = None
    if proposal.problems:
        suggested = await _suggest(proposal, context, extra_stages)
        _name_final_values(proposal)
    args = proposal.args if not proposal.problems else None
    return Verdict(args, proposal.problems, proposal.warnings, suggested)


def _name_final_values(p: Proposal) -> None:
    """A field given under another name whose value also has one reading: the rename names the value
    to send (`speed: "0.9x"` → speech_speed = 0.9), so the fixable part of a refused proposal is
    named with its fix whatever else is refused."""
    for rename in p.problems:
        if rename.code != "unknown_field" or rename.fix is None:
            continue
        value_fix = next((q.fix for q in p.problems if q is not rename and q.field == rename.fix.field), None)
        if value_fix is not None and value_fix.field == rename.fix.field:
            rename.fix = Fix(
                field=rename.fix.field,
                value=value_fix.value,
                interpretation=f"{rename.fix.interpretation}; {value_fix.interpretation}",
            )


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


@dataclass
class _Given:
    """One value given for a documented field (or a nested one: `end_call_tool.description`)."""

    key: str  # the name the agent used
    value: Any  # read as the name says (a unit converted, a negated switch turned round)
    reading: str  # the rename's interpretation; "" for a documented name


async def resolve_names(p: Proposal) -> None:
    """Map every field to its documented name; a unit in the name converts the value."""
    # The contract's names, not the advertised schema's: a field a policy hides is still this
    # field, and is refused by the policy stage as such rather than as an unknown name.
    know = p.knows
    props = frozenset(know.kinds)
    if all(key in props for key in p.raw):
        # The common case: every name is documented. Nested containers are copied only if renamed.
        p.resolved = dict(p.raw)
        _resolve_nested(p)
        return
    targets: dict[str, list[_Given]] = {}  # documented path -> what was given for it
    order: dict[str, int] = {}
    unknown: list[str] = []
    builder = FeedbackBuilder(p.context.schema, p.raw, p.context.model)

    def give(path: str, given: _Given, position: int) -> None:
        targets.setdefault(path, []).append(given)
        order.setdefault(path.split(".", 1)[0], position)

    for position, (key, value) in enumerate(p.raw.items()):
        if key in props:
            give(key, _Given(key, value, ""), position)
            continue
        found = know.resolve(key, props)
        flat = _flattened(know, key, value, props, found)
        if flat is not None:
            # Each of its settings is given here on its own, under its dotted path (`voice.speed`).
            for sub_key, sub_value, named in flat:
                if not named.field:
                    unknown.append(sub_key)
                    continue
                converted, how = _convert(know, named, sub_value)
                give(named.field, _Given(sub_key, converted, _reading(sub_key, named, how)), position)
            continue
        if not found:
            unknown.append(key)
            continue
        if len(found) > 1:
            p.renamed = True
            p.problems.append(_name_question(builder, know, key, value, found))
            continue
        named = found[0]
        converted, how = _convert(know, named, value)
        give(named.field, _Given(key, converted, _reading(key, named, how)), position)
        if named.scale is not None:
            _scale_question(p, builder, know, named, converted)
    resolved: dict[str, Any] = {}
    for path, given in targets.items():
        values = [g.value for g in given]
        agree = all(_same(v, values[0]) for v in values)
        if not agree:
            # Two values for one field: which one the person meant is theirs to say.
            shown = ", ".join(f"{g.key} = {g.value!r}" for g in given)
            for g in given:
                p.problems.append(
                    builder.problem(g.key, "conflict", f"{path} is given more than once ({shown}); give one")
                )
        for g in given:
            if not g.reading:
                continue  # given under its documented name
            p.renamed = True
            p.given_as.setdefault(path.split(".", 1)[0], g.key)
            if agree and not any(q.field == g.key for q in p.problems):
                fix = Fix(field=path, value=g.value, interpretation=g.reading)
                top, _, sub = path.partition(".")
                said = f"a field inside {top}: give it as {top}: {{{sub}: …}}" if sub else f"did you mean {path}?"
                p.problems.append(builder.problem(g.key, "unknown_field", f"unknown field; {said}", fix))
        top, _, sub = path.partition(".")
        if not sub:
            if top in resolved and isinstance(resolved[top], dict) and isinstance(values[0], dict):
                merged = dict(values[0])
                for k, v in resolved[top].items():
                    _merge(p, builder, merged, top, k, v, given)
                resolved[top] = merged
            else:
                resolved[top] = values[0]
        elif top not in resolved or isinstance(resolved[top], dict):
            container = dict(resolved.get(top) or {})
            _merge(p, builder, container, top, sub, values[0], given)
            resolved[top] = container
        else:
            # The object itself was given as something else too (`end_call_tool: "A"`): two values.
            for g in given:
                p.problems.append(builder.problem(g.key, "conflict", f"{top} is given more than once; give one"))
    for key in unknown:
        p.renamed = True
        p.problems.append(
            builder.problem(key, "unknown_field", "unknown field; see the tool's input schema for the accepted names")
        )
    # Keep the agent's order: each field where it (or its first alias) was given.
    p.resolved = {k: resolved[k] for k in sorted(resolved, key=lambda k: order.get(k, len(order)))}
    _resolve_nested(p)


def _merge(
    p: Proposal,
    builder: FeedbackBuilder,
    container: dict[str, Any],
    top: str,
    sub: str,
    value: Any,
    given: list[_Given],
) -> None:
    """Set a nested field given on its own (dotted or flat) into its object; a different value there conflicts."""
    if sub in container and not _same(container[sub], value):
        for g in given:
            p.problems.append(builder.problem(g.key, "conflict", f"{top}.{sub} is given more than once; give one"))
        return
    container[sub] = value


def _reading(key: str, named: Named, how: str) -> str:
    if named.negated:
        said = f"{key} is the opposite of {named.field}"
    elif named.choices is not None:
        said = f"{key} is a switch for {named.field}"
    elif named.how.startswith("written"):
        said = f"{key} is {named.field} {named.how}"
    elif named.how:
        said = f"{key} is {named.field} ({named.how})"
    elif named.whose:
        said = f"{key} is {named.whose} name for {named.field}"
    else:
        said = f"{key} is this API's {named.field}"
    return said + (f"; {how}" if how else "")


def _flattened(
    know: Knowledge, key: str, value: Any, props: frozenset[str], found: list[Named]
) -> list[tuple[str, Any, Named]] | None:
    """Another platform's settings object (`{"voice": {"voiceId": 3, "speed": 0.9}}`): each of its keys
    as this API's field, when at least one is (the others come back as unknown fields of their own,
    `voice.provider`, never dropped). Not for one of this API's own objects, nor for a whole entry
    pasted where a reference belongs; under a reference's name, its `id` and `name` stay together
    as the entry and its other keys are settings."""
    if not isinstance(value, dict) or not value:
        return None
    out: list[tuple[str, Any, Named]] = []
    if len(found) == 1:
        kind = know.kinds.get(found[0].field.split(".", 1)[0])
        if isinstance(kind, Object | Pairs | Entries):
            return None
        own = {k: v for k, v in value.items() if k in ("id", "name")}
        if isinstance(kind, Reference) and own:
            others = {k: v for k, v in value.items() if k not in own}
            if not any(len(know.resolve(f"{key}.{k}", props)) == 1 for k in others):
                return None  # a whole entry pasted where its id or name belongs
            # Its id and name are the reference (judged as an entry); its other keys, settings.
            out.append((key, own, found[0]))
            value = others
    rest: list[str] = []
    for sub_key, sub_value in value.items():
        dotted = f"{key}.{sub_key}"
        named = know.resolve(dotted, props)
        if len(named) != 1 or "." in named[0].field:
            rest.append(dotted)
        else:
            out.append((dotted, sub_value, named[0]))
    if not out:
        return None
    # The keys that are no setting here are unknown fields of their own (`voice.provider`): told,
    # never dropped, so the proposal is refused with its settings named.
    return out + [(dotted, value[dotted.split(".", 1)[1]], Named("")) for dotted in rest]


def _name_question(builder: FeedbackBuilder, know: Knowledge, key: str, value: Any, found: list[Named]) -> Problem:
    """A name two fields go by (`idle_timeout`): each field is a candidate; which one is the person's call."""
    candidates = []
    for named in found:
        converted, how = _convert(know, named, value)
        sub = builder.schema.get("properties", {}).get(named.field, {})
        read = know.kinds[named.field].read(converted, sub, path=named.field)
        if read.fix is not None and read.fix.value != converted:
            converted, how = read.fix.value, "; ".join(filter(None, (how, read.fix.interpretation)))
        candidates.append(Fix(field=named.field, value=converted, interpretation=_reading(key, named, how)))
    fields = " or ".join(n.field for n in found)
    return builder.problem(key, "unknown_field", f"unknown field; it may mean {fields}", candidates=candidates)


def _scale_question(p: Proposal, builder: FeedbackBuilder, know: Knowledge, named: Named, value: Any) -> None:
    """A number under another platform's name for a field whose scale differs (Retell's 0–1 for this
    API's 0–5): when it fits both scales, which was meant is a question."""
    kind = know.kinds[named.field]
    if not isinstance(kind, Number) or named.scale is None:
        return
    if isinstance(value, str):
        parsed = parse_number_text(value)
        value = parsed[0] if parsed is not None and parsed[1] is None else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    sub = builder.schema.get("properties", {}).get(named.field, {})
    readings = kind.scaled_readings(float(value), named.scale, sub)
    if readings is not None:
        p.problems.append(builder.read(named.field, "ambiguous_scale", "a number on two possible scales", readings))


def _resolve_nested(p: Proposal) -> None:
    """The same for the keys inside the entries and objects of nested fields (post_call_schema, end_call_tool)."""
    know = p.knows
    containers: list[tuple[str, Knowledge, Any]] = []
    for name, inner in know.nested.items():
        value = p.resolved.get(name)
        if isinstance(value, list):
            containers += [(f"{name}.{i}", inner, e) for i, e in enumerate(value)]
        elif isinstance(value, dict):
            containers.append((name, inner, value))
    for path, inner, node in containers:
        if not isinstance(node, dict):
            continue
        valid = frozenset(inner.kinds)
        if all(key in valid for key in node):
            continue
        renamed: dict[str, Any] = {}
        for key, value in node.items():
            found = inner.resolve(key, valid) if key not in valid else [Named(key)]
            target = found[0].field if len(found) == 1 else key
            if target != key and target not in node and target not in renamed:
                fix = Fix(field=f"{path}.{target}", value=value, interpretation=f"{key} means {target} here")
                p.problems.append(
                    p.builder.problem(f"{path}.{key}", "unknown_field", f"did you mean {target}?", fix, received=value)
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


_UNIT_FACTOR = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "%": 0.01}


def _convert(know: Knowledge, named: Named, value: Any) -> tuple[Any, str]:
    """A value given under another name, as the name says to read it: in the field's own unit
    (`…_minutes`, `…Ms`), turned round (`block_interruptions`), or as the choice a switch picks."""
    if named.negated or named.choices is not None:
        meant = truth(value)
        if meant is None:
            return value, ""
        if named.choices is not None:
            choice = named.choices[0] if meant else named.choices[1]
            return choice, f"{_shown(value)} means {named.field} {choice!r}"
        return (not meant), f"{_shown(value)} means {named.field} {str(not meant).lower()}"
    if named.unit is None:
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
    factor = _UNIT_FACTOR[named.unit]
    converted = round(number * factor, 6)
    out: int | float = int(converted) if converted.is_integer() else converted
    if factor == 1:
        return out, ""
    kind = know.kinds.get(named.field)
    what = f" {kind.scale}" if kind is not None and kind.scale == "seconds" else ""
    return out, f"{fmt(number)} {named.unit} = {fmt(out)}{what}"


def _shown(value: Any) -> str:
    return fmt(value) if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 600 and 600.0 agree, true and 1 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


async def contract(p: Proposal) -> None:
    """The documented contract, judged by the model the tool's schema is generated from."""
    try:
        args = p.context.model.model_validate(p.resolved)
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
    r = p.resolved
    url = p.problem_at("webhook_url")
    # Judged on the values as their fixes read them ("true", "null"), so the conflict is told now.
    if p.effective("is_webhook_active") is True and "webhook_url" in r and p.effective("webhook_url") is None:
        # Both values were asked for explicitly; turning the webhook off instead is not a fix.
        if url is not None:
            p.problems.remove(url)
        p.problems.append(
            p.builder.problem(
                "webhook_url",
                "conflict",
                WEBHOOK_CONFLICT + ": give the webhook's URL, or set is_webhook_active false to turn it off",
            )
        )
    if not set(p.raw) - set(TOOL_ONLY):
        p.problems.append(p.builder.problem("", "nothing_to_update", NOTHING_TO_UPDATE, received=dict(p.raw)))
    kinds = p.knows.kinds
    for name, value in r.items():
        kind = kinds.get(name)
        if not isinstance(value, str) or not isinstance(kind, Zone | Url) or p.problem_at(name) is not None:
            continue
        if isinstance(kind, Zone):
            verdict = judge_timezone(value)
            if verdict.warning:
                p.warnings.append(Notice(code="timezone", fields=[name], message=verdict.warning))
            if not verdict.ok:
                code = "ambiguous_timezone" if verdict.readings.candidates else "unknown_timezone"
                p.problems.append(
                    p.builder.read(
                        name, code, "not an IANA timezone name (Region/City, e.g. Asia/Riyadh)", verdict.readings
                    )
                )
        elif isinstance(kind, Url):
            # The schema's pattern lets through what no URL holds (`https://<your-webhook-url>`).
            why = url_problem(value)
            if why is not None:
                p.problems.append(p.builder.read(name, "not_a_url", why, kind.read(value, {}, path=name)))


async def references(p: Proposal) -> None:
    """Live checks of the assistant, voice, phone number, language and model against the account."""
    if p.context.lookups is None:
        return
    await _assistant(p, p.context.lookups)
    # The assistant this proposal is about: its id as resolved (and fixed), so that a suggestion
    # is judged against the same assistant as the proposal it came from.
    assistant_id = p.effective("id")
    mode_of = p.context.assistant_mode

    async def current_mode() -> str | None:
        if mode_of is None or type(assistant_id) is not int:
            return None
        return await mode_of(assistant_id)

    p.problems, warnings = await check_references(
        p.context.lookups, p.builder, p.resolved, p.problems, current_mode, p.knows.kinds
    )
    p.warnings += warnings


async def _assistant(p: Proposal, lookups: Lookups) -> None:
    """The assistant the proposal is about, against the account's list when that is known.

    A whole list row pasted as the id, or the assistant's name, is read by the list (the proposal
    is refused anyway, so reading it costs no change a request). A well-formed id is judged when
    the list is already known to this process, or when the proposal is refused for something else
    (no request is added to a valid change); an id a cached list lacks is read again, fresh,
    before it is refused with the ids nearby.
    """
    value = p.resolved.get("id")
    problem = p.problem_at("id")
    if (
        problem is not None
        and problem.fix is None
        and problem.code == "wrong_type"
        and isinstance(value, dict | list | str)
    ):
        try:
            listing = await assistants.listing(lookups)
        except SondosError:
            return
        readings = nearby_assistants(value, listing.rows)
        p.problems[p.problems.index(problem)] = p.builder.read("id", problem.code, problem.message, readings)
        return
    if problem is not None or type(value) is not int:
        return
    known, just_read = assistants.known(lookups), False
    if known is None and any(q.field != "id" for q in p.problems):
        # Refused anyway: reading the list costs no change a request, and every problem is told at once.
        try:
            known, just_read = await assistants.listing(lookups), True
        except SondosError:
            return
    if known is None or known.get(value) is not None:
        return
    try:
        fresh = known if just_read else await assistants.listing(lookups, fresh=True)
    except SondosError:
        return
    if fresh.get(value) is None:
        readings = nearby_assistants(value, fresh.rows)
        message = f"this account has no assistant {value}; list_assistants shows its ids"
        p.problems.append(p.builder.read("id", "unknown_reference", message, readings))


async def mark_current(p: Proposal) -> None:
    """A candidate equal to what the field holds now says so: the agent should not offer "no change"
    as if it were a reading of the words."""
    ask = p.context.current_settings
    assistant_id = p.resolved.get("id")
    offered = [q for q in p.problems if q.candidates and "." not in q.field]
    if ask is None or type(assistant_id) is not int or not offered:
        return
    current = await ask(assistant_id)
    if not current:
        return
    for problem in offered:
        for candidate in problem.candidates or []:
            field = candidate.field
            if field in current and current[field] == candidate.value and type(current[field]) is type(candidate.value):
                candidate.interpretation += "; the current value"


STAGES: tuple[Stage, ...] = (resolve_names, contract, rules, references, mark_current)
