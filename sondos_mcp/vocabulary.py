"""The words agents use for the update contract, read from what each field declares in the model.

Per field, everything lives with the field (`sondos_mcp.model`, kinds in `vocabulary_kinds`): its
other names (ours and other voice platforms'), units, scale, spellings and stored shape. This
module builds the lookups from those declarations and keeps what is not per field, split by
topic: numbers and durations (`vocabulary_numbers`), time zones (`vocabulary_zones`), languages
(`vocabulary_languages`).

`resolve_name` says which field an unknown name means (a synonym, a unit in the name, a switch
written `enable_…` or negated `disable_…`, a nested field written dotted or flat, another
platform's nested path); `interpret` turns a value the contract refused into its readings by the
rules of its field's kind: one plausible reading is a fix, several are ranked candidates.
"""

from __future__ import annotations

import difflib
import functools
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from sondos_mcp.model import UpdateAssistantArgs
from sondos_mcp.vocabulary_kinds import (
    Choice,
    Entries,
    Kind,
    Number,
    Object,
    Paging,
    Pairs,
    Reference,
    Switch,
    Url,
    kind_of,
    schema_types,
)
from sondos_mcp.vocabulary_languages import LANGUAGE_NAMES, language_code, split_list
from sondos_mcp.vocabulary_numbers import NAME_UNITS, REMOVAL_WORDS, parse_number_text
from sondos_mcp.vocabulary_readings import NOTHING, Reading, Readings, fmt
from sondos_mcp.vocabulary_zones import ZoneVerdict, judge_timezone, timezones

__all__ = [
    "LANGUAGE_NAMES",
    "NOTHING",
    "STORED_DIRECTION",
    "STORED_NAME",
    "UPDATE_NAME",
    "Knowledge",
    "Named",
    "Reading",
    "Readings",
    "ZoneVerdict",
    "interpret",
    "judge_timezone",
    "knowledge",
    "language_code",
    "parse_number_text",
    "resolve_name",
    "scale_of",
    "snake",
    "split_list",
    "timezones",
]


def snake(name: str) -> str:
    """`maxCallDuration`, `Max-Call duration`, `voice.speed` → `max_call_duration`, …, `voice_speed`."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[\s\-./]+", "_", text).lower().strip("_")


def pattern_key(path: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".*", path)


@dataclass(frozen=True)
class Named:
    """What an unknown name means: a documented field (dotted when nested), and how to read its value."""

    field: str
    unit: str | None = None  # a unit the name carries: `_ms`, `Minutes`
    negated: bool = False  # the name means the opposite switch: `block_interruptions`
    choices: tuple[str, str] | None = None  # a switch name that picks a choice: (when true, when false)
    scale: float | None = None  # the name's own 0–N scale (another platform's)
    whose: str = ""  # "Vapi's", "the assistants list's": said in the interpretation
    how: str = ""  # "written dotted", "the last part of voice.speed"


_SWITCH_PREFIXES = ("enable_", "use_", "is_", "has_", "should_", "do_")
_SWITCH_SUFFIXES = ("_enabled", "_on", "_active")
_NEGATING_PREFIXES = ("disable_", "no_", "without_", "dont_", "block_")
_NEGATING_SUFFIXES = ("_disabled", "_off", "_blocked")
# Never reached through the last part of a dotted path: another platform's `voice.id` is not our `id`.
_NOT_BY_SUFFIX = frozenset({"id", "dry_run"})
# Objects of the assistant's own settings in other platforms' shapes: any setting may sit in them.
_ASSISTANT_OBJECTS = frozenset(
    {
        "agent",
        "assistant",
        "conversation",
        "conversation_config",
        "turn",
        "stop_speaking_plan",
        "start_speaking_plan",
        "message_plan",
        "artifact_plan",
        "analysis_plan",
        "response_engine",
        "retell_llm",
        "settings",
        "config",
        "configuration",
        "agent_config",
        "assistant_config",
        "platform_settings",
    }
)
# The objects other voice platforms group an assistant's settings in (Vapi's `voice`, `model`,
# `stopSpeakingPlan`; ElevenLabs' `conversation_config.agent`, `tts`, `turn`; Retell's
# `response_engine`): a setting inside one of these is read by its own name. Anything else
# (`metadata.language`, `variables.voice`) holds the caller's data, not settings.
SETTINGS_OBJECTS = _ASSISTANT_OBJECTS | frozenset(
    {"voice", "model", "llm", "transcriber", "tts", "stt", "asr", "prompt", "voicemail_detection"}
)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    while typing.get_origin(annotation) is not None and typing.get_origin(annotation) is not list:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


class Knowledge:
    """The lookups built from one model's field declarations (and its nested models')."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.kinds: dict[str, Kind] = {}
        self.nested: dict[str, Knowledge] = {}
        self.aliases: dict[str, list[Named]] = {}
        for name, info in model.model_fields.items():
            kind = kind_of(info) or Kind()
            self.kinds[name] = kind
            inner = _nested_model(info.annotation)
            if inner is not None:
                self.nested[name] = knowledge(inner)
        for name, kind in self.kinds.items():
            self._add(name, Named(name))
            for other in kind.names:
                self._add(other, Named(name))
            if kind.stored:
                self._add(kind.stored, Named(name, whose="the assistants list's"))
            for other, who in kind.platform_names().items():
                self._add(other, Named(name, whose=who))
            if isinstance(kind, Switch):
                for other in kind.negated:
                    self._add(other, Named(name, negated=True))
            if isinstance(kind, Choice):
                for other, pair in kind.switches.items():
                    self._add(other, Named(name, choices=pair))
            if isinstance(kind, Number):
                for other, top in kind.scaled.items():
                    key = snake(other)
                    self.aliases[key] = [replace(n, scale=top) if n.field == name else n for n in self.aliases[key]]

    def _add(self, alias: str, named: Named) -> None:
        parts = [p for p in re.split(r"[./]", alias) if p]
        for i in range(1, len(parts) - 1):
            # Every shorter dotted tail of another platform's path names the same setting.
            self._add_one(".".join(parts[i:]), named)
        self._add_one(alias, named)

    def _add_one(self, alias: str, named: Named) -> None:
        key = snake(alias)
        # A name written with its unit (`end_call_after_silence_ms`) carries the unit.
        head, _, tail = key.rpartition("_")
        kind = self.kinds[named.field]
        if head and tail in NAME_UNITS and isinstance(kind, Number) and kind.accepts(NAME_UNITS[tail]):
            named = replace(named, unit=NAME_UNITS[tail])
        found = self.aliases.setdefault(key, [])
        if all(n.field != named.field for n in found):
            found.append(named)

    @property
    def switches(self) -> frozenset[str]:
        return frozenset(n for n, k in self.kinds.items() if isinstance(k, Switch))

    def kind_at(self, path: str) -> Kind | None:
        """The kind of the field at a dotted path (`post_call_schema.0.name` or `post_call_schema.*.name`);
        None for an entry of a list itself (`post_call_schema.0`), which is no field."""
        parts = path.split(".")
        if parts[-1] == "*" or parts[-1].isdigit():
            return None
        node: Knowledge | None = self
        names = [p for p in parts if p != "*" and not p.isdigit()]
        for part in names[:-1]:
            node = node.nested.get(part) if node is not None else None
        return node.kinds.get(names[-1]) if node is not None else None

    def resolve(self, name: str, valid: frozenset[str] | None = None) -> list[Named]:
        """The fields an unknown name may mean: none, one, or several (a name two fields go by)."""
        valid = valid if valid is not None else frozenset(self.kinds)
        key = snake(name)
        for found in (self._plain(key, valid), self._nested(name, key, valid), self._by_suffix(name, valid)):
            if found:
                return found
        # A spelling slip of a documented name (speach_speed); only close ones, never a guess.
        close = difflib.get_close_matches(key, sorted(valid), n=2, cutoff=0.85)
        return [Named(close[0])] if len(close) == 1 else []

    def _plain(self, key: str, valid: frozenset[str]) -> list[Named]:
        found = [n for n in self.aliases.get(key, []) if n.field in valid]
        if found:
            return found
        head, _, tail = key.rpartition("_")
        if head and tail in NAME_UNITS:
            unit = NAME_UNITS[tail]
            for n in self.aliases.get(head, []):
                kind = self.kinds[n.field]
                if n.field in valid and isinstance(kind, Number) and kind.accepts(unit):
                    found.append(replace(n, unit=unit))
            if found:
                return found
        switches = self.switches & valid
        for negate, prefixes, suffixes in (
            (False, _SWITCH_PREFIXES, _SWITCH_SUFFIXES),
            (True, _NEGATING_PREFIXES, _NEGATING_SUFFIXES),
        ):
            rests = [key[len(p) :] for p in prefixes if key.startswith(p)]
            rests += [key[: -len(s)] for s in suffixes if key.endswith(s)]
            for rest in rests:
                found = [
                    replace(n, negated=n.negated != negate)
                    for n in self.aliases.get(rest, [])
                    if n.field in switches and n.choices is None
                ]
                if found:
                    return found
        return []

    def _nested(self, name: str, key: str, valid: frozenset[str]) -> list[Named]:
        """A field of a nested object written dotted (`end_call_tool.description`) or flat."""
        for field_name, inner in self.nested.items():
            if field_name not in valid or not isinstance(self.kinds[field_name], Object):
                continue
            heads = {snake(field_name)} | {snake(n) for n in self.kinds[field_name].names}
            for head in heads:
                if key.startswith(head + "_"):
                    rest = key[len(head) + 1 :]
                    found = inner._plain(rest, frozenset(inner.kinds))
                    if len(found) == 1:
                        how = "written dotted" if "." in name else "written flat"
                        return [Named(f"{field_name}.{found[0].field}", how=how)]
        return []

    def _by_suffix(self, name: str, valid: frozenset[str]) -> list[Named]:
        """Another platform's nested setting by the last parts of its path (`voice.speed`, `tts.stability`).

        A dotted name another platform declares is known with every shorter dotted tail
        (`agent.prompt.prompt` for `conversation_config.agent.prompt.prompt`). Beyond those, a
        thing's object (`voice`, `model`, `transcriber`) gives only its own id or name (`voice.name`
        is the voice) and its switch (`voicemailDetection.enabled`); only an object of the
        assistant's own settings (`agent`, `conversation_config`, `stopSpeakingPlan`) gives any
        setting by its name (`agent.first_message`). Anything else (`metadata.language`) is unknown.
        """
        parts = [p for p in re.split(r"[./]", name) if p]
        if len(parts) < 2:
            return []
        if any(n.field in self.nested for n in self._plain(snake(parts[0]), frozenset(self.kinds))):
            return []  # inside one of this contract's own objects, a name it does not have is unknown
        for i in range(1, len(parts) - 1):
            tail = [n for n in self.aliases.get(snake("_".join(parts[i:])), []) if n.field in valid]
            if tail:
                return [replace(n, how=f"the last part of {name}") for n in tail]
        holder, last = snake(parts[-2]), snake(parts[-1])
        if not all(snake(p) in SETTINGS_OBJECTS or snake(p) in self.aliases for p in parts[:-1]):
            return []
        own = [n for n in self.aliases.get(holder, []) if n.field in valid and not n.negated and n.choices is None]
        for named in own:
            kind = self.kinds[named.field]
            if isinstance(kind, Reference) and last in {"id", "name", snake(named.field), "value"}:
                return [replace(named, how=f"the {last} of {parts[-2]}")]
            if isinstance(kind, Switch) and last in {"enabled", "enable", "active", "on", "is_enabled"}:
                return [replace(named, how=f"{parts[-2]} switched")]
            if isinstance(kind, Url) and last in {"url", "uri", "endpoint", "address"}:
                return [replace(named, how=f"the {last} of {parts[-2]}")]
        if holder not in _ASSISTANT_OBJECTS:
            return []
        skip = _NOT_BY_SUFFIX
        found = [
            n
            for n in self._plain(last, valid - skip)
            if holder in ("agent", "assistant") or n.whose != "the assistants list's"
        ]
        return [replace(n, how=f"the last part of {name}") for n in found]


@functools.cache
def knowledge(model: type[BaseModel] = UpdateAssistantArgs) -> Knowledge:
    return Knowledge(model)


def resolve_name(name: str, valid: frozenset[str] | None = None, scope: str = "") -> list[Named]:
    """The fields an unknown name means in the update contract; `scope` is a nested field
    (`end_call_tool`, `post_call_schema`) for names inside it."""
    base = knowledge()
    where = base.nested.get(scope) if scope else base
    return where.resolve(name, valid) if where is not None else []


# --- the stored shape ------------------------------------------------------------------------

_KINDS = knowledge().kinds
# The stored (list) shape names these update fields differently; everything else keeps its name.
STORED_NAME: dict[str, str] = {name: kind.stored for name, kind in _KINDS.items() if kind.stored}
UPDATE_NAME: dict[str, str] = {stored: update for update, stored in STORED_NAME.items()}
# Values the list spells differently (calls_direction is stored as inbound/outbound).
STORED_VALUES: dict[str, Mapping[str, str]] = {
    name: kind.stored_values for name, kind in _KINDS.items() if isinstance(kind, Choice) and kind.stored_values
}
STORED_DIRECTION: dict[str, str] = dict(STORED_VALUES["calls_direction"])
# Switches the list stores as 1/0.
STORED_FLAGS: frozenset[str] = frozenset(n for n, k in _KINDS.items() if isinstance(k, Switch) and k.stored_flag)
SWITCHES: frozenset[str] = knowledge().switches


def scale_of(name: str, model: type[BaseModel] | None = None) -> str | None:
    """A field's scale or unit in a few words, for descriptions and messages ("seconds", "0–1",
    "1 = normal speed", "0–5"): its kind's `about`, else what its kind and bounds say."""
    model = model or UpdateAssistantArgs
    kind = knowledge(model).kind_at(name)
    if kind is None:
        return None
    if kind.scale is not None:
        return kind.scale
    info = model.model_fields.get(name)
    bounds = {k: getattr(m, k) for m in getattr(info, "metadata", []) for k in ("ge", "le") if hasattr(m, k)}
    if isinstance(kind, Number) and {"ge", "le"} <= set(bounds):
        return f"{fmt(bounds['ge'])}–{fmt(bounds['le'])}"
    return None


# --- one value -------------------------------------------------------------------------------

# Read tools' own arguments, which are not fields of the update contract.
TOOL_ARGUMENTS: dict[str, Kind] = {"page": Paging(names=("p",)), "per_page": Paging(names=("limit", "page_size"))}


def kind_at(path: str, model: type[BaseModel] | None = None) -> Kind | None:
    """The kind declared for the field at `path` in `model` (the update contract by default)."""
    found = knowledge(model or UpdateAssistantArgs).kind_at(path)
    return found if found is not None else TOOL_ARGUMENTS.get(path)


def _by_schema(sub: Mapping[str, Any]) -> Kind:
    """For a field that declares no kind (another tool's argument): the kind its schema implies."""
    types = schema_types(sub)
    if "enum" in sub:
        return Choice()
    if "boolean" in types:
        return Switch()
    if types & {"number", "integer"}:
        return Number()
    if "object" in types:
        return Pairs() if "properties" not in sub else Object()
    if "array" in types:
        return Entries()
    return Kind()


def interpret(
    path: str, value: Any, sub: Mapping[str, Any], unit: str | None = None, kind: Kind | None = None
) -> Readings:
    """The readings of a value the contract refused at `path` (a dotted path), judged by its sub-schema
    and the kind its field declares."""
    key = pattern_key(path)
    kind = kind or kind_at(key) or _by_schema(sub)
    types = schema_types(sub)
    if isinstance(value, str) and "null" in types and value.strip().casefold() in REMOVAL_WORDS:
        return Readings.one(None, f"{value!r} read as null: {kind.null_means or 'remove'}")
    if value is None:
        if "boolean" in types:
            return Readings(candidates=[Reading(False, "turn it off")], note="null is not a value here")
        return NOTHING
    return kind.read(value, sub, path=key, unit=unit)
