"""The words agents use for the update contract: field names, value spellings, units and zones.

One place for every name a field goes by (this API's stored shape, the neighbouring voice-agent
APIs agents have seen: Vapi, Retell, ElevenLabs, Bland; camelCase and abbreviations) and every
spelling a value comes in. `interpret` turns a value the contract refused into its readings:
one plausible reading is a fix; several are ranked candidates; none is neither. The server never
sees the person's words, so a bare number outside the range is read every way it plausibly could
be, and only a value whose unit or scale is written down (in the string or the field's name) or
one just past a bound with no other sensible reading gets a single reading.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- field names -----------------------------------------------------------------------------

# Every update field (and the tool's own `id` and `dry_run`) with the other names it goes by,
# written snake_case: camelCase and spaces are folded to this form before lookup.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("assistant_id", "assistant", "agent_id", "agent", "bot_id", "assistantid"),
    "dry_run": ("preview", "dryrun", "validate_only", "simulate", "preview_only", "what_if"),
    "assistant_name": ("name", "title", "agent_name", "display_name", "bot_name"),
    "voice_id": ("voice", "voice_name", "tts_voice", "speaker", "voiceid"),
    "language": ("lang", "locale", "language_code", "spoken_language", "transcriber_language", "stt_language"),
    "llm_model": ("model", "llm", "model_name", "ai_model", "language_model", "llm_name", "gpt_model"),
    "calls_direction": ("direction", "call_direction", "type", "call_type", "calls_type", "assistant_type"),
    "engine_type": ("mode", "engine", "engine_mode", "voice_engine", "architecture"),
    "timezone": ("tz", "time_zone", "timezone_name", "zone"),
    "initial_message": (
        "first_message",
        "greeting",
        "welcome_message",
        "begin_message",
        "first_sentence",
        "opening_message",
        "opening_line",
        "intro_message",
        "greeting_message",
    ),
    "system_prompt": (
        "prompt",
        "instructions",
        "general_prompt",
        "task",
        "system_message",
        "system_instructions",
        "agent_prompt",
    ),
    "phone_number_id": ("phone_number", "phone_id", "phone", "number_id", "from_number", "caller_id"),
    "endpoint_type": ("endpointing", "endpointing_type", "turn_detection", "end_of_turn_detection"),
    "endpoint_sensitivity": ("endpointing_sensitivity", "responsiveness", "turn_sensitivity"),
    "interrupt_sensitivity": ("interruption_sensitivity", "interruption_threshold", "barge_in_sensitivity"),
    "ambient_sound_volume": (
        "ambient_volume",
        "background_volume",
        "background_sound_volume",
        "ambient_sound",
        "ambience_volume",
    ),
    "post_call_evaluation": ("post_call_analysis", "call_evaluation", "evaluation", "enable_post_call_evaluation"),
    "send_webhook_only_on_completed": ("webhook_only_on_completed", "webhook_on_completed_only"),
    "include_recording_in_webhook": ("webhook_include_recording", "include_recording", "recording_in_webhook"),
    "is_webhook_active": (
        "webhook_active",
        "webhook_enabled",
        "enable_webhook",
        "use_webhook",
        "webhook_is_active",
        "is_webhook_enabled",
    ),
    "webhook_url": ("webhook", "server_url", "callback_url", "webhook_endpoint", "webhook_uri"),
    "use_min_interrupt_words": ("min_interrupt_words_enabled", "enable_min_interrupt_words"),
    "min_interrupt_words": ("min_interruption_words", "interrupt_words", "minimum_interrupt_words"),
    "variables": ("vars", "custom_variables", "dynamic_variables", "variable_values", "context_variables"),
    "post_call_schema": (
        "post_call_fields",
        "extraction_schema",
        "analysis_schema",
        "post_call_data",
        "extract_fields",
        "data_extraction",
    ),
    "end_call_tool": ("end_call", "end_call_function", "hangup_tool"),
    "llm_temperature": ("temperature", "temp", "model_temperature", "llm_temp"),
    "voice_stability": ("stability", "tts_stability"),
    "voice_similarity": ("similarity", "similarity_boost", "voice_similarity_boost"),
    "speech_speed": (
        "speed",
        "voice_speed",
        "speaking_rate",
        "speaking_speed",
        "talk_speed",
        "rate",
        "speech_rate",
        "tts_speed",
    ),
    "allow_interruptions": (
        "interruptions",
        "allow_interruption",
        "interruptible",
        "interruptions_enabled",
        "enable_interruptions",
        "barge_in",
    ),
    "filler_audios": ("fillers", "filler_audio", "filler_words", "fillers_enabled", "enable_fillers", "use_fillers"),
    "re_engagement_interval": (
        "reengagement_interval",
        "reminder_interval",
        "re_engage_interval",
        "reminder_trigger",
        "re_engagement",
    ),
    "max_call_duration": (
        "max_duration",
        "call_duration",
        "max_call_length",
        "max_call_time",
        "call_time_limit",
        "duration_limit",
    ),
    "max_silence_duration": (
        "silence_timeout",
        "max_silence",
        "silence_duration",
        "end_call_after_silence",
        "silence_end_call_timeout",
        "idle_timeout",
    ),
    "end_call_on_voicemail": (
        "voicemail_detection",
        "end_on_voicemail",
        "hangup_on_voicemail",
        "enable_voicemail_detection",
        "detect_voicemail",
    ),
    "noise_cancellation": ("noise_suppression", "denoising", "background_denoising", "noise_reduction"),
    "record_call": ("record", "recording", "record_calls", "recording_enabled", "call_recording", "enable_recording"),
    "who_speaks_first": ("first_speaker", "speaks_first", "first_message_mode", "start_speaker", "who_starts"),
}

# Names inside one post_call_schema entry and inside end_call_tool.
NESTED_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "post_call_schema.*": {
        "name": ("key", "field", "field_name", "label", "id"),
        "type": ("data_type", "datatype", "kind", "value_type"),
        "description": ("desc", "prompt", "instruction", "question", "details"),
    },
    "end_call_tool": {"description": ("desc", "prompt", "instructions", "when")},
}

# The stored (list) shape names these update fields differently; everything else keeps its name.
STORED_NAME: dict[str, str] = {
    "assistant_name": "name",
    "calls_direction": "type",
    "engine_type": "mode",
    "max_call_duration": "max_duration",
    "record_call": "record",
    "filler_audios": "fillers",
    "re_engagement_interval": "reengagement_interval",
}
UPDATE_NAME: dict[str, str] = {stored: update for update, stored in STORED_NAME.items()}
# calls_direction is stored as inbound/outbound.
STORED_DIRECTION: dict[str, str] = {"inbound": "receive", "outbound": "make"}

_ALIASES: dict[str, str] = {alias: name for name, aliases in FIELD_NAMES.items() for alias in aliases}


def snake(name: str) -> str:
    """`maxCallDuration`, `Max-Call duration` → `max_call_duration`."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[\s\-.]+", "_", text).lower().strip("_")


# Units written in a field's name (`max_duration_minutes`, `silenceTimeoutMs`).
_NAME_UNITS = {
    "ms": "ms",
    "msec": "ms",
    "millis": "ms",
    "milliseconds": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "seconds": "s",
    "min": "min",
    "mins": "min",
    "minutes": "min",
    "hours": "h",
    "percent": "%",
    "pct": "%",
    "percentage": "%",
}


def field_for(name: str, valid: tuple[str, ...] | list[str], scope: str = "") -> tuple[str, str | None] | None:
    """The documented field an unknown name means, and the unit its name carries, if any.

    `scope` is "" for the top level, or a nested pattern key such as `post_call_schema.*`.
    """
    key = snake(name)
    aliases = _ALIASES if not scope else {a: n for n, al in NESTED_NAMES.get(scope, {}).items() for a in al}
    for candidate, unit in _unit_splits(key):
        target = candidate if candidate in valid else aliases.get(candidate)
        if unit == SWITCH:
            if target in valid and target in _switches():
                return target, None
        elif target is not None and target in valid and (unit is None or _unit_fits(target, unit)):
            return target, unit
    # A spelling slip of a documented name (speach_speed); only close ones, never a guess.
    close = difflib.get_close_matches(key, list(valid), n=2, cutoff=0.85)
    if len(close) == 1:
        return close[0], None
    return None


_SWITCH_PREFIXES = ("enable_", "use_", "is_", "has_", "should_", "do_")
_SWITCH_SUFFIXES = ("_enabled", "_on", "_active")


SWITCH = "switch"  # the unit-less marker of a name read as a boolean switch


@functools.cache
def _switches() -> frozenset[str]:
    from sondos_mcp.model import UpdateAssistantArgs

    return frozenset(n for n, f in UpdateAssistantArgs.model_fields.items() if f.annotation is bool)


def _unit_splits(key: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = [(key, None)]
    head, _, tail = key.rpartition("_")
    if head and tail in _NAME_UNITS:
        out.append((head, _NAME_UNITS[tail]))
    # Switches are named every way: enable_x, use_x, is_x, x_enabled.
    for prefix in _SWITCH_PREFIXES:
        if key.startswith(prefix):
            out.append((key[len(prefix) :], SWITCH))
    for suffix in _SWITCH_SUFFIXES:
        if key.endswith(suffix):
            out.append((key[: -len(suffix)], SWITCH))
    return out


# --- value kinds -----------------------------------------------------------------------------

# What a number means per field: the scale decides which other readings a number can have.
SECONDS = "seconds"
FRACTION = "fraction"  # 0–1
MULTIPLIER = "multiplier"  # speech speed, 1 = normal
LEVEL = "level"  # 0–5 sensitivities
COUNT = "count"
PAGING = "paging"  # read tools' page and per_page: clamping a read changes nothing
NUMBER_KIND: dict[str, str] = {
    "page": PAGING,
    "per_page": PAGING,
    "re_engagement_interval": SECONDS,
    "max_call_duration": SECONDS,
    "max_silence_duration": SECONDS,
    "ambient_sound_volume": FRACTION,
    "llm_temperature": FRACTION,
    "voice_stability": FRACTION,
    "voice_similarity": FRACTION,
    "speech_speed": MULTIPLIER,
    "endpoint_sensitivity": LEVEL,
    "interrupt_sensitivity": LEVEL,
    "min_interrupt_words": COUNT,
}


def _unit_fits(field_name: str, unit: str) -> bool:
    kind = NUMBER_KIND.get(field_name)
    if unit in ("ms", "s", "min", "h"):
        return kind == SECONDS
    return kind in (FRACTION, MULTIPLIER)


# Enum spellings, normalised (case-folded, separators removed), per field.
ENUM_SPELLINGS: dict[str, dict[str, str]] = {
    "calls_direction": {
        "inbound": "receive",
        "incoming": "receive",
        "in": "receive",
        "receiving": "receive",
        "receivecalls": "receive",
        "answer": "receive",
        "outbound": "make",
        "outgoing": "make",
        "out": "make",
        "making": "make",
        "makecalls": "make",
        "dial": "make",
        "dialout": "make",
    },
    "engine_type": {
        "realtime": "multimodal",
        "speechtospeech": "multimodal",
        "sts": "multimodal",
        "s2s": "multimodal",
        "nativeaudio": "multimodal",
        "cascade": "pipeline",
        "cascaded": "pipeline",
        "sttllmtts": "pipeline",
        "asrllmtts": "pipeline",
    },
    "endpoint_type": {
        "voiceactivitydetection": "vad",
        "silence": "vad",
        "silencebased": "vad",
        "smart": "ai",
        "semantic": "ai",
        "llm": "ai",
        "model": "ai",
        "aibased": "ai",
        "smartendpointing": "ai",
    },
    "who_speaks_first": {
        "assistant": "AI assistant",
        "ai": "AI assistant",
        "aiassistant": "AI assistant",
        "bot": "AI assistant",
        "agent": "AI assistant",
        "assistantspeaksfirst": "AI assistant",
        "agentspeaksfirst": "AI assistant",
        "assistantfirst": "AI assistant",
        "customer": "Customer",
        "caller": "Customer",
        "user": "Customer",
        "human": "Customer",
        "client": "Customer",
        "assistantwaitsforuser": "Customer",
        "userspeaksfirst": "Customer",
        "customerfirst": "Customer",
        "callerfirst": "Customer",
    },
    "post_call_schema.*.type": {
        "boolean": "bool",
        "str": "string",
        "text": "string",
        "int": "number",
        "integer": "number",
        "float": "number",
        "numeric": "number",
        "double": "number",
        "decimal": "number",
    },
}

TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1", "enabled", "enable", "active", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "off", "0", "disabled", "disable", "inactive", "f"})
# How agents spell "remove" on the fields where null has that meaning.
REMOVAL_WORDS = frozenset({"null", "none", "nil", "", "remove", "delete", "unassign", "unset", "clear"})
NULL_MEANS = {"phone_number_id": "unassign the phone number", "webhook_url": "remove the webhook"}

_MAX_WORDS = frozenset({"max", "maximum", "highest", "longest", "fastest", "full", "most"})
_MIN_WORDS = frozenset({"min", "minimum", "lowest", "shortest", "slowest", "least"})
_NO_LIMIT = frozenset({"unlimited", "nolimit", "infinite", "never", "off", "disabled", "none", "forever", "0"})
_SMALL = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
_NUMBER_WORDS: dict[str, float] = {w: i for i, w in enumerate(_SMALL.split())} | {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fortyfive": 45,
    "sixty": 60,
    "ninety": 90,
    "half": 0.5,
}

_TIME_UNITS = {
    "ms": 0.001,
    "msec": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
}
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600}
_UNIT_WORD = {0.001: "ms", 1: "s", 60: "min", 3600: "h"}


@dataclass(frozen=True)
class Reading:
    value: Any
    interpretation: str


@dataclass
class Readings:
    """What a refused value may have meant: one reading (a fix), ranked candidates, or nothing."""

    fix: Reading | None = None
    candidates: list[Reading] = field(default_factory=list)
    note: str | None = None  # why there is no fix, for the message

    @classmethod
    def of(cls, readings: list[Reading], note: str | None = None) -> Readings:
        unique: list[Reading] = []
        for r in readings:
            if all(r.value != u.value or type(r.value) is not type(u.value) for u in unique):
                unique.append(r)
        if len(unique) == 1 and note is None:
            return cls(fix=unique[0])
        return cls(candidates=unique, note=note)


NOTHING = Readings()


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-./]+", "", text.casefold())


def pattern_key(path: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".*", path)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _num(x: float, integer: bool) -> int | float:
    if integer:
        return round(x)
    x = round(x, 6)
    return int(x) if x.is_integer() else x


# --- numbers ---------------------------------------------------------------------------------


def _bounds(sub: Mapping[str, Any]) -> tuple[float, float]:
    return float(sub.get("minimum", -math.inf)), float(sub.get("maximum", math.inf))


def _tolerance(kind: str | None, lo: float, hi: float) -> float:
    # "Just past a bound": close enough that the bound is the only sensible reading.
    if kind == SECONDS:
        return hi * 0.05
    if kind == COUNT:
        return 1
    if kind == LEVEL:
        return 0.25
    if kind == PAGING:
        return math.inf
    if kind is None:
        return 0.0
    return 0.05 + 1e-9


def number_readings(field_name: str, x: float, sub: Mapping[str, Any], unit: str | None = None) -> Readings:
    """Readings of a number for a numeric field; `unit` when the proposal wrote one down."""
    kind = NUMBER_KIND.get(field_name)
    lo, hi = _bounds(sub)
    integer = "integer" in _types(sub)
    what = " s" if kind == SECONDS else ""
    if unit is not None:
        return _with_unit(field_name, kind, x, unit, lo, hi, integer)
    if kind is None and not lo <= x <= hi:
        return NOTHING  # an id or the like: a number out of range has no other reading
    if lo <= x <= hi:
        if integer and not float(x).is_integer():
            if kind == COUNT:
                return Readings.of([Reading(math.floor(x), "rounded down"), Reading(math.ceil(x), "rounded up")])
            return Readings(fix=Reading(_num(x, True), f"{_fmt(x)} rounded to whole {'seconds' if what else 'units'}"))
        return Readings(fix=Reading(_num(x, integer), "the number itself"))
    tol = _tolerance(kind, lo, hi)
    below = x < lo
    bound = lo if below else hi
    bound_reading = Reading(
        _num(bound, integer), f"the {'lowest' if below else 'highest'} allowed, {_fmt(bound)}{what}"
    )
    others: list[Reading] = []
    beyond = abs(x - bound) > tol  # scale readings only for numbers clearly off the scale
    if kind == SECONDS:
        if x <= 0:
            # 0 or a negative number usually means "off" or "no limit", which this field cannot say.
            return Readings.of(
                [
                    Reading(_num(hi, integer), f"no limit / off is not possible; the longest allowed, {_fmt(hi)} s"),
                    Reading(_num(lo, integer), f"the shortest allowed, {_fmt(lo)} s"),
                ],
                note=f"{_fmt(x)} may mean off or no limit",
            )
        if below and lo <= x * 60 <= hi:
            others.append(Reading(_num(x * 60, integer), f"{_fmt(x)} minutes = {_fmt(x * 60)} s"))
        if not below and lo <= x / 1000 <= hi:
            others.append(Reading(_num(x / 1000, integer), f"{_fmt(x)} milliseconds = {_fmt(x / 1000)} s"))
    elif kind == FRACTION and beyond and not below:
        if field_name == "llm_temperature" and x <= 2:
            others.append(Reading(_num(x / 2, False), f"{_fmt(x)} on a 0–2 temperature scale = {_fmt(x / 2)}"))
        elif x <= 10:
            others.append(Reading(_num(x / 10, False), f"{_fmt(x)} on a 0–10 scale = {_fmt(x / 10)}"))
        elif x <= 100:
            others.append(Reading(_num(x / 100, False), f"{_fmt(x)} percent = {_fmt(x / 100)}"))
    elif kind == MULTIPLIER:
        if 50 <= x <= 200 and lo <= x / 100 <= hi:
            others.append(Reading(_num(x / 100, False), f"{_fmt(x)} percent of normal speed = {_fmt(x / 100)}"))
    elif kind == LEVEL and beyond and not below:
        if x <= 10:
            others.append(Reading(_num(x / 2, False), f"{_fmt(x)} on a 0–10 scale = {_fmt(x / 2)}"))
        elif x <= 100:
            others.append(Reading(_num(x / 20, False), f"{_fmt(x)} percent of the 0–5 scale = {_fmt(x / 20)}"))
    if not others and abs(x - bound) <= tol:
        return Readings(
            fix=Reading(bound_reading.value, f"{_fmt(x)} is just past the bound; {bound_reading.interpretation}")
        )
    readings = [*others, bound_reading]
    if others and all(r.value == readings[0].value for r in readings):
        # Every reading lands on the same value: that value has one reading after all.
        return Readings(fix=Reading(readings[0].value, "; ".join(r.interpretation for r in readings)))
    return Readings(candidates=readings, note=f"a bare {_fmt(x)} has more than one reading")


def _with_unit(field_name: str, kind: str | None, x: float, unit: str, lo: float, hi: float, integer: bool) -> Readings:
    if unit in _UNIT_SECONDS:
        if kind != SECONDS:
            return Readings(note=f"a time unit does not fit {field_name}")
        seconds = x * _UNIT_SECONDS[unit]
        said = f"{_fmt(x)} {unit}"
        text = said if unit == "s" else f"{said} = {_fmt(seconds)} s"
    elif unit == "%":
        if kind == FRACTION:
            seconds, text = x / 100, f"{_fmt(x)} percent = {_fmt(x / 100)}"
        elif kind == MULTIPLIER:
            seconds, text = x / 100, f"{_fmt(x)} percent of normal speed = {_fmt(x / 100)}"
        elif kind == LEVEL:
            v = x / 20
            return Readings(
                candidates=[Reading(_num(v, False), f"{_fmt(x)} percent of the 0–5 scale = {_fmt(v)}")],
                note="a percent of a 0–5 scale",
            )
        else:
            return Readings(note=f"a percent does not fit {field_name}")
    elif unit == "+%":
        if kind != MULTIPLIER:
            return Readings(note=f"a relative change does not fit {field_name}")
        seconds = 1 + x / 100
        text = f"{'+' if x >= 0 else ''}{_fmt(x)}% from normal speed = {_fmt(seconds)}"
    elif unit == "x":
        if kind != MULTIPLIER:
            return Readings(note=f"a multiplier does not fit {field_name}")
        seconds, text = x, f"{_fmt(x)}× normal speed"
    elif unit == "words":
        if kind != COUNT:
            return Readings(note=f"a word count does not fit {field_name}")
        seconds, text = x, f"{_fmt(x)} words"
    else:
        return NOTHING
    value = _num(seconds, integer)
    if integer and not float(round(seconds, 6)).is_integer():
        text += f", rounded to {value}"
    if lo <= value <= hi:
        return Readings(fix=Reading(value, text))
    bound = lo if value < lo else hi
    if abs(value - bound) <= _tolerance(kind, lo, hi):
        return Readings(fix=Reading(_num(bound, integer), f"{text}, just past the bound; {_fmt(bound)} allowed"))
    word = "shortest" if value < lo else "longest"
    if kind != SECONDS:
        word = "lowest" if value < lo else "highest"
    return Readings(
        candidates=[Reading(_num(bound, integer), f"{text} is not allowed; the {word} allowed is {_fmt(bound)}")],
        note=f"{text} is outside the allowed range",
    )


_AMOUNT = r"[-+]?\d+(?:[.,]\d+)?"


def parse_number_text(text: str) -> tuple[float, str | None] | None:
    """A number in a string and the unit written with it: "4 min", "2500ms", "65%", "0.95x", "1m30s"."""
    t = text.strip().casefold()
    if not t:
        return None
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 1,200
    m = re.fullmatch(rf"({_AMOUNT})", t)
    if m:
        return float(m.group(1).replace(",", ".")), None
    m = re.fullmatch(rf"({_AMOUNT})\s*(%|percent|pct|per cent)", t)
    if m:
        amount = m.group(1)
        unit = "+%" if amount[0] in "+-" else "%"
        return float(amount.replace(",", ".")), unit
    m = re.fullmatch(rf"x\s*({_AMOUNT})|({_AMOUNT})\s*(?:x|×|times)", t)
    if m:
        return float((m.group(1) or m.group(2)).replace(",", ".")), "x"
    m = re.fullmatch(rf"({_AMOUNT})\s*words?", t)
    if m:
        return float(m.group(1)), "words"
    if t in _NUMBER_WORDS and t != "half":
        return float(_NUMBER_WORDS[t]), None
    t = re.sub(r"\b(?:half an?|a half)\s+(?=[a-z])", "0.5 ", t)
    t = re.sub(r"\ban?\s+(?=(?:hour|minute|second)s?\b)", "1 ", t)
    # One or more "<amount> <time unit>" parts: "90 s", "4 minutes", "1 min 30 sec", "1h", "two minutes".
    parts = re.findall(r"(\d+(?:[.,]\d+)?|[a-z]+)\s*([a-z]+)\.?(?:\s+and)?\s*", t)
    if parts and "".join(a + u for a, u in parts) == re.sub(r"\s|\band\b", "", t):
        total, smallest = 0.0, None
        for amount, unit_word in parts:
            factor = _TIME_UNITS.get(unit_word)
            number = _word_number(amount)
            if factor is None or number is None:
                return None
            total += number * factor
            smallest = factor if smallest is None else min(smallest, factor)
        if len(parts) == 1 and smallest is not None:
            return total / smallest, _UNIT_WORD[smallest]
        return total, "s"
    return None


def _word_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        pass
    key = re.sub(r"[\s\-]+", "", text)
    if key in ("a", "an", "one"):
        return 1
    return _NUMBER_WORDS.get(key)


def _types(sub: Mapping[str, Any]) -> set[str]:
    t = sub.get("type")
    return {t} if isinstance(t, str) else set(t or [])


# --- one value -------------------------------------------------------------------------------


def interpret(path: str, value: Any, sub: Mapping[str, Any], unit: str | None = None) -> Readings:
    """The readings of a value the contract refused at `path` (a dotted path), judged by its sub-schema."""
    key = pattern_key(path)
    types = _types(sub)
    if isinstance(value, str) and "null" in types and value.strip().casefold() in REMOVAL_WORDS:
        return Readings(fix=Reading(None, f"{value!r} read as null: {NULL_MEANS.get(key, 'remove')}"))
    if value is None:
        if "boolean" in types:
            return Readings(candidates=[Reading(False, "turn it off")], note="null is not a value here")
        return NOTHING
    if "enum" in sub:
        return _enum(key, value, list(sub["enum"]))
    if "boolean" in types:
        return _boolean(value)
    if types & {"number", "integer"}:
        return _number(key, value, sub, unit)
    if "pattern" in sub and isinstance(value, str):
        return _pattern(key, value)
    if "object" in types:
        return _object(key, value, sub)
    if "array" in types:
        return _array(key, value, sub)
    return NOTHING


def _enum(key: str, value: Any, choices: list[Any]) -> Readings:
    if not isinstance(value, str):
        return NOTHING
    norm = _norm(value)
    for choice in choices:
        if _norm(str(choice)) == norm:
            return Readings(fix=Reading(choice, f"{value!r} is {choice!r} spelled differently"))
    spelled = ENUM_SPELLINGS.get(key, {}).get(norm)
    if spelled in choices:
        return Readings(fix=Reading(spelled, f"{value!r} means {spelled!r} here"))
    close = difflib.get_close_matches(norm, [_norm(str(c)) for c in choices], n=2, cutoff=0.8)
    if len(close) == 1:
        choice = next(c for c in choices if _norm(str(c)) == close[0])
        return Readings(fix=Reading(choice, f"{value!r} is a misspelling of {choice!r}"))
    # "Inbound calls", "the customer": one word names a choice and no other word names another.
    named = set()
    for word in re.findall(r"[^\W_]+", value.casefold()):
        hit = next((c for c in choices if _norm(str(c)) == word), None) or ENUM_SPELLINGS.get(key, {}).get(word)
        if hit in choices:
            named.add(hit)
    if len(named) == 1:
        (choice,) = named
        return Readings(fix=Reading(choice, f"{value!r} names {choice!r}"))
    return NOTHING


def _boolean(value: Any) -> Readings:
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in TRUE_WORDS:
            return Readings(fix=Reading(True, f"{value!r} means true"))
        if word in FALSE_WORDS:
            return Readings(fix=Reading(False, f"{value!r} means false"))
        return NOTHING
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return Readings(fix=Reading(bool(value), f"{_fmt(value)} means {str(bool(value)).lower()}"))
    return NOTHING


def _number(key: str, value: Any, sub: Mapping[str, Any], unit: str | None) -> Readings:
    lo, hi = _bounds(sub)
    integer = "integer" in _types(sub)
    if isinstance(value, bool):
        return NOTHING
    if isinstance(value, str):
        word = _norm(value)
        if word in _MAX_WORDS and math.isfinite(hi):
            return Readings(fix=Reading(_num(hi, integer), f"{value!r}: the highest allowed, {_fmt(hi)}"))
        if word in _MIN_WORDS and math.isfinite(lo):
            return Readings(fix=Reading(_num(lo, integer), f"{value!r}: the lowest allowed, {_fmt(lo)}"))
        if key == "speech_speed" and word in ("normal", "default", "regular", "standard"):
            return Readings(fix=Reading(1, f"{value!r} speed is 1"))
        if key == "speech_speed" and word in ("slow", "slower", "fast", "faster", "quick", "quicker"):
            fast = word.startswith(("fast", "quick"))
            return Readings(
                candidates=[
                    Reading(1.1 if fast else 0.9, f"a little {'faster' if fast else 'slower'} than normal"),
                    Reading(_num(hi if fast else lo, False), f"as {'fast' if fast else 'slow'} as allowed"),
                ],
                note=f"{value!r} gives no amount",
            )
        if NUMBER_KIND.get(key) == SECONDS and word in _NO_LIMIT:
            return Readings(
                candidates=[Reading(_num(hi, integer), f"no limit is not possible; the longest allowed, {_fmt(hi)} s")],
                note=f"{value!r} cannot be expressed",
            )
        parsed = parse_number_text(value)
        if parsed is None:
            return NOTHING
        number, written = parsed
        if written is None and unit is None:
            readings = number_readings(key, number, sub)
            if readings.fix is not None and readings.fix.interpretation == "the number itself":
                return Readings(fix=Reading(readings.fix.value, f"the number {value!r} written as a string"))
            return readings
        if unit is not None and written is not None and written != unit:
            return Readings(note="two units given")
        return number_readings(key, number, sub, unit=written or unit)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return NOTHING
        return number_readings(key, float(value), sub, unit=unit)
    return NOTHING


def _pattern(key: str, value: str) -> Readings:
    if key == "post_call_schema.*.name":
        fixed = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", value.strip())).strip("_")
        if fixed:
            return Readings(fix=Reading(fixed, f"{value!r} with other characters made underscores"))
        return NOTHING
    if key == "webhook_url":
        stripped = value.strip()
        if re.fullmatch(r"https?://[^\s/?#]+\S*", stripped, re.I) and stripped != value:
            return Readings(fix=Reading(stripped, "the URL without surrounding whitespace"))
        host = stripped.split("/", 1)[0]
        bare = not re.match(r"^[a-z][a-z0-9+.-]*:", stripped, re.I)
        if bare and " " not in stripped and re.fullmatch(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?", host, re.I):
            return Readings(fix=Reading("https://" + stripped, f"{value!r} with its https:// scheme"))
    return NOTHING


def _object(key: str, value: Any, sub: Mapping[str, Any]) -> Readings:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return Readings(fix=Reading(parsed, "the object written as a JSON string"))
        if key == "end_call_tool" and value.strip():
            return Readings(fix=Reading({"description": value}, "the text is the tool's description"))
        if key == "variables":
            pairs = re.split(r"\s*[;,\n]\s*", value.strip())
            found = [re.fullmatch(r"([A-Za-z_][\w.-]*)\s*[=:]\s*(.+)", p) for p in pairs if p]
            if found and all(found):
                return Readings(
                    fix=Reading({m.group(1): m.group(2).strip() for m in found if m}, "key=value pairs as a map")
                )
        return NOTHING
    if key == "variables" and isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict) and set(item) in ({"key", "value"}, {"name", "value"}):
                k = item.get("key", item.get("name"))
            elif isinstance(item, list) and len(item) == 2:
                k, item = item[0], {"value": item[1]}
            else:
                return NOTHING
            if not isinstance(k, str) or k in out:
                return NOTHING
            out[k] = item["value"]
        if out:
            return Readings(fix=Reading(out, "a list of key/value pairs as a map"))
    return NOTHING


def _array(key: str, value: Any, sub: Mapping[str, Any]) -> Readings:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return NOTHING
        if isinstance(parsed, list):
            return Readings(fix=Reading(parsed, "the list written as a JSON string"))
        value = parsed
    if key == "post_call_schema" and isinstance(value, dict):
        entry_keys = {"name", "type", "description"}
        if set(value) & entry_keys:
            return Readings(fix=Reading([value], "one entry, wrapped in a list"))
        # {"lead_score": {"type": "number", "description": "…"}}: names as keys.
        if value and all(isinstance(v, dict) and set(v) == {"type", "description"} for v in value.values()):
            return Readings(fix=Reading([{"name": k, **v} for k, v in value.items()], "entries keyed by their name"))
    return NOTHING


# --- timezones -------------------------------------------------------------------------------


@functools.cache
def timezones() -> dict[str, str]:
    """Every IANA name on this machine, by its case-folded form."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(timezones().values())


# Legacy names the tz database keeps, which most people read differently from what they are
# (EST is fixed UTC−5 all year; New York observes daylight saving).
_LEGACY = frozenset({"est", "mst", "est5edt", "cst6cdt", "mst7mdt", "pst8pdt", "cet", "eet", "wet", "met"})

_US_EASTERN = ("America/New_York", "US Eastern time, with daylight saving")
ZONE_ABBREVIATIONS: dict[str, list[tuple[str, str]]] = {
    "est": [_US_EASTERN, ("Etc/GMT+5", "fixed UTC−5 all year")],
    "edt": [_US_EASTERN, ("Etc/GMT+4", "fixed UTC−4 all year")],
    "et": [_US_EASTERN, ("Etc/GMT+5", "fixed UTC−5 all year")],
    "eastern": [_US_EASTERN, ("Etc/GMT+5", "fixed UTC−5 all year")],
    "est5edt": [_US_EASTERN],
    "cst": [
        ("America/Chicago", "US Central time, with daylight saving"),
        ("Asia/Shanghai", "China Standard Time, UTC+8"),
        ("Etc/GMT+6", "fixed UTC−6 all year"),
    ],
    "cdt": [("America/Chicago", "US Central time, with daylight saving"), ("Etc/GMT+5", "fixed UTC−5")],
    "central": [("America/Chicago", "US Central time, with daylight saving")],
    "cst6cdt": [("America/Chicago", "US Central time, with daylight saving")],
    "mst": [
        ("America/Denver", "US Mountain time, with daylight saving"),
        ("America/Phoenix", "Arizona: UTC−7 all year"),
    ],
    "mdt": [("America/Denver", "US Mountain time, with daylight saving"), ("Etc/GMT+6", "fixed UTC−6")],
    "mst7mdt": [("America/Denver", "US Mountain time, with daylight saving")],
    "pst": [("America/Los_Angeles", "US Pacific time, with daylight saving"), ("Etc/GMT+8", "fixed UTC−8 all year")],
    "pdt": [("America/Los_Angeles", "US Pacific time, with daylight saving"), ("Etc/GMT+7", "fixed UTC−7")],
    "pt": [("America/Los_Angeles", "US Pacific time, with daylight saving")],
    "pacific": [("America/Los_Angeles", "US Pacific time, with daylight saving")],
    "pst8pdt": [("America/Los_Angeles", "US Pacific time, with daylight saving")],
    "ast": [("Asia/Riyadh", "Arabia Standard Time, UTC+3"), ("America/Halifax", "Atlantic Standard Time, UTC−4")],
    "gst": [("Asia/Dubai", "Gulf Standard Time, UTC+4"), ("Atlantic/South_Georgia", "South Georgia Time, UTC−2")],
    "ist": [
        ("Asia/Kolkata", "India Standard Time, UTC+5:30"),
        ("Asia/Jerusalem", "Israel Standard Time"),
        ("Europe/Dublin", "Irish Standard Time"),
    ],
    "bst": [("Europe/London", "British Summer Time"), ("Asia/Dhaka", "Bangladesh Standard Time, UTC+6")],
    "cet": [("Europe/Paris", "Central European time, with daylight saving"), ("Etc/GMT-1", "fixed UTC+1 all year")],
    "cest": [("Europe/Paris", "Central European time, with daylight saving"), ("Etc/GMT-2", "fixed UTC+2")],
    "eet": [
        ("Africa/Cairo", "Egypt, Eastern European time"),
        ("Europe/Athens", "Eastern European time, with EU daylight saving"),
        ("Etc/GMT-2", "fixed UTC+2 all year"),
    ],
    "wet": [("Europe/Lisbon", "Western European time, with daylight saving"), ("Etc/UTC", "fixed UTC")],
    "met": [("Europe/Paris", "Central European time, with daylight saving")],
    "aest": [("Australia/Sydney", "Sydney, with daylight saving"), ("Australia/Brisbane", "Brisbane, UTC+10 all year")],
    # One reading each.
    "msk": [("Europe/Moscow", "Moscow time, UTC+3")],
    "jst": [("Asia/Tokyo", "Japan Standard Time")],
    "pkt": [("Asia/Karachi", "Pakistan Standard Time")],
    "sgt": [("Asia/Singapore", "Singapore time")],
    "hkt": [("Asia/Hong_Kong", "Hong Kong time")],
    "ksa": [("Asia/Riyadh", "Saudi Arabia")],
}

# Places that are not the city a zone is named after, and countries with a single zone.
PLACES: dict[str, str] = {
    "jeddah": "Asia/Riyadh",
    "jidda": "Asia/Riyadh",
    "mecca": "Asia/Riyadh",
    "makkah": "Asia/Riyadh",
    "medina": "Asia/Riyadh",
    "madinah": "Asia/Riyadh",
    "dammam": "Asia/Riyadh",
    "khobar": "Asia/Riyadh",
    "saudi arabia": "Asia/Riyadh",
    "saudi": "Asia/Riyadh",
    "abu dhabi": "Asia/Dubai",
    "sharjah": "Asia/Dubai",
    "uae": "Asia/Dubai",
    "united arab emirates": "Asia/Dubai",
    "doha": "Asia/Qatar",
    "qatar": "Asia/Qatar",
    "manama": "Asia/Bahrain",
    "bahrain": "Asia/Bahrain",
    "kuwait city": "Asia/Kuwait",
    "kuwait": "Asia/Kuwait",
    "oman": "Asia/Muscat",
    "jordan": "Asia/Amman",
    "lebanon": "Asia/Beirut",
    "egypt": "Africa/Cairo",
    "alexandria": "Africa/Cairo",
    "giza": "Africa/Cairo",
    "morocco": "Africa/Casablanca",
    "rabat": "Africa/Casablanca",
    "iraq": "Asia/Baghdad",
    "turkey": "Europe/Istanbul",
    "ankara": "Europe/Istanbul",
    "pakistan": "Asia/Karachi",
    "lahore": "Asia/Karachi",
    "islamabad": "Asia/Karachi",
    "india": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata",
    "bombay": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "calcutta": "Asia/Kolkata",
    "uk": "Europe/London",
    "united kingdom": "Europe/London",
    "england": "Europe/London",
    "manchester": "Europe/London",
    "france": "Europe/Paris",
    "germany": "Europe/Berlin",
    "munich": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "spain": "Europe/Madrid",
    "barcelona": "Europe/Madrid",
    "italy": "Europe/Rome",
    "milan": "Europe/Rome",
    "japan": "Asia/Tokyo",
    "new york city": "America/New_York",
    "nyc": "America/New_York",
    "boston": "America/New_York",
    "miami": "America/New_York",
    "washington": "America/New_York",
    "washington dc": "America/New_York",
    "atlanta": "America/New_York",
    "houston": "America/Chicago",
    "dallas": "America/Chicago",
    "austin": "America/Chicago",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "las vegas": "America/Los_Angeles",
    "montreal": "America/Toronto",
    "beijing": "Asia/Shanghai",
    "melbourne": "Australia/Melbourne",
}
# Countries spanning several zones: never one reading.
MULTI_ZONE: dict[str, list[tuple[str, str]]] = {
    "us": [
        ("America/New_York", "US Eastern"),
        ("America/Chicago", "US Central"),
        ("America/Denver", "US Mountain"),
        ("America/Los_Angeles", "US Pacific"),
    ],
    "canada": [("America/Toronto", "Eastern"), ("America/Vancouver", "Pacific"), ("America/Halifax", "Atlantic")],
    "australia": [("Australia/Sydney", "Sydney"), ("Australia/Perth", "Perth"), ("Australia/Brisbane", "Brisbane")],
    "russia": [("Europe/Moscow", "Moscow"), ("Asia/Yekaterinburg", "Yekaterinburg"), ("Asia/Vladivostok", "Far East")],
    "brazil": [("America/Sao_Paulo", "São Paulo"), ("America/Manaus", "Manaus")],
    "mexico": [("America/Mexico_City", "Mexico City"), ("America/Tijuana", "Tijuana")],
}
MULTI_ZONE["usa"] = MULTI_ZONE["united states"] = MULTI_ZONE["us"]
# Offsets with minutes have no Etc/ zone; these places keep them all year.
HALF_HOUR_ZONES: dict[tuple[int, int], list[str]] = {
    (5, 30): ["Asia/Kolkata", "Asia/Colombo"],
    (4, 30): ["Asia/Kabul"],
    (3, 30): ["Asia/Tehran"],
    (5, 45): ["Asia/Kathmandu"],
    (9, 30): ["Australia/Darwin", "Australia/Adelaide"],
    (-3, -30): ["America/St_Johns"],
}


@dataclass
class ZoneVerdict:
    ok: bool
    readings: Readings = field(default_factory=Readings)
    warning: str | None = None


def judge_timezone(value: str) -> ZoneVerdict:
    """Whether `value` is an IANA zone name to send as is, and if not, what it may have meant."""
    zones = timezones()
    if not zones:
        return ZoneVerdict(True)  # without a tz database here, the API judges
    folded = value.strip().casefold()
    if value in _zone_names() and folded not in _LEGACY:
        m = re.fullmatch(r"etc/gmt([+-])(\d+)", folded)
        if m and m.group(2) != "0":
            real = f"UTC{'−' if m.group(1) == '+' else '+'}{m.group(2)}"
            other = f"Etc/GMT{'-' if m.group(1) == '+' else '+'}{m.group(2)}"
            return ZoneVerdict(
                True, warning=f"{value} is {real} (the tz database inverts the sign); {other} is the opposite"
            )
        return ZoneVerdict(True)
    key = re.sub(r"\s+", " ", folded.replace("_", " "))
    if key in ZONE_ABBREVIATIONS or key.replace(" ", "") in ZONE_ABBREVIATIONS:
        options = ZONE_ABBREVIATIONS.get(key) or ZONE_ABBREVIATIONS[key.replace(" ", "")]
        readings = [Reading(zone, f"{value} as {what}") for zone, what in options]
        note = None if len(readings) == 1 else f"{value} is an abbreviation with several meanings"
        return ZoneVerdict(False, Readings.of(readings, note))
    if key in MULTI_ZONE:
        readings = [Reading(zone, f"{what}") for zone, what in MULTI_ZONE[key]]
        return ZoneVerdict(False, Readings.of(readings, f"{value} spans several time zones"))
    offset = _offset(folded)
    if offset is not None:
        return ZoneVerdict(False, offset)
    exact = zones.get(folded.replace(" ", "_"))
    if exact is not None and exact.casefold() not in _LEGACY:
        return ZoneVerdict(False, Readings(fix=Reading(exact, f"{value!r} is {exact} in the tz database's spelling")))
    if key in PLACES:
        return ZoneVerdict(False, Readings(fix=Reading(PLACES[key], f"{value} keeps {PLACES[key]} time")))
    city = key.replace(" ", "_")
    by_city = [name for name in zones.values() if name.casefold().rsplit("/", 1)[-1] == city and "/" in name]
    if len(by_city) > 1:
        by_city = [n for n in by_city if not n.startswith(("Etc/", "US/", "SystemV/"))] or by_city
        canonical = [n for n in by_city if n.split("/")[0] in _REGIONS]
        by_city = canonical or by_city
    if len(by_city) == 1:
        return ZoneVerdict(False, Readings(fix=Reading(by_city[0], f"{value} is the city of {by_city[0]}")))
    # "Cairo, Egypt", "Asia/Jeddah": every part that names a place must name the same zone.
    parts = [q.strip() for q in re.split(r"[,/]", value) if q.strip()]
    if len(parts) > 1:
        found = {z for z in (_place_zone(q) for q in parts) if z}
        if len(found) == 1:
            (zone,) = found
            return ZoneVerdict(False, Readings(fix=Reading(zone, f"{value!r} is a place in {zone}")))
    if "/" in folded:
        close = difflib.get_close_matches(folded, list(zones), n=2, cutoff=0.85)
        if len(close) == 1 and close[0].split("/")[0] == folded.split("/")[0]:
            name = zones[close[0]]
            return ZoneVerdict(False, Readings(fix=Reading(name, f"{value!r} is a misspelling of {name}")))
    return ZoneVerdict(False, NOTHING)


def _place_zone(text: str) -> str | None:
    """The zone of one place name (a city or single-zone country), if it has exactly one."""
    key = re.sub(r"\s+", " ", text.casefold().replace("_", " ")).strip()
    if key in PLACES:
        return PLACES[key]
    city = key.replace(" ", "_")
    by_city = [
        n for n in _zone_names() if n.split("/")[0] in _REGIONS and "/" in n and n.casefold().rsplit("/", 1)[-1] == city
    ]
    return by_city[0] if len(by_city) == 1 else None


_REGIONS = frozenset(
    {"Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)


def _offset(folded: str) -> Readings | None:
    m = re.fullmatch(r"(?:utc|gmt|z)?\s*([+\-−])\s*(\d{1,2})(?::?(\d{2}))?(?:\s*(?:h|hours?))?", folded)
    if not m or not (folded[0] in "+-−" or folded.startswith(("utc", "gmt", "z"))):
        return None
    sign = -1 if m.group(1) in "-−" else 1
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    said = f"UTC{'+' if sign > 0 else '−'}{hours}" + (f":{minutes:02d}" if minutes else "")
    if minutes:
        zones = HALF_HOUR_ZONES.get((sign * hours, sign * minutes), [])
        readings = [Reading(z, f"{said}: {z} keeps this offset") for z in zones]
        return Readings(candidates=readings, note=f"{said} has no fixed-offset zone name")
    if hours == 0:
        return Readings(fix=Reading("UTC", f"{said} is UTC"))
    if hours > 14 or (sign < 0 and hours > 12):
        return Readings(note=f"{said} is not an offset in use")
    # The tz database's Etc/GMT zones carry the POSIX sign: Etc/GMT-3 is three hours AHEAD of UTC.
    name = f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"
    return Readings(fix=Reading(name, f"{said} as a fixed offset, no daylight saving; the tz database names it {name}"))


# --- languages -------------------------------------------------------------------------------

# ISO 639-1 codes with the other names agents use for the language: endonyms, 639-2 codes,
# common misspellings. Matched against the account's own list (its `iso_2` and `name`).
LANGUAGE_NAMES: dict[str, tuple[str, ...]] = {
    "ar": ("arabic", "ara", "arb", "العربية", "عربي", "arabe", "arabisch", "arabic language"),
    "en": ("english", "eng", "anglais", "englisch", "inglés", "ingles"),
    "fr": ("french", "fra", "fre", "français", "francais", "französisch"),
    "es": ("spanish", "spa", "español", "espanol", "castellano"),
    "de": ("german", "deu", "ger", "deutsch", "allemand"),
    "tr": ("turkish", "tur", "türkçe", "turkce"),
    "ur": ("urdu", "urd", "اردو"),
    "hi": ("hindi", "hin", "हिन्दी", "हिंदी"),
    "it": ("italian", "ita", "italiano"),
    "pt": ("portuguese", "por", "português", "portugues"),
    "ru": ("russian", "rus", "русский"),
    "zh": ("chinese", "zho", "chi", "mandarin", "中文"),
    "ja": ("japanese", "jpn", "日本語"),
    "fa": ("persian", "farsi", "fas", "per", "فارسی"),
}
_LANGUAGE_CODE: dict[str, str] = {alias.casefold(): code for code, al in LANGUAGE_NAMES.items() for alias in al}


def language_code(text: str) -> str | None:
    """The ISO 639-1 code a language name, code or locale ("ar-SA", "en_US", "eng") stands for."""
    t = text.strip().casefold()
    if t in _LANGUAGE_CODE:
        return _LANGUAGE_CODE[t]
    m = re.fullmatch(r"([a-z]{2,3})(?:[-_][a-z0-9]{2,4})*", t)
    if m:
        code = m.group(1)
        return code if len(code) == 2 else _LANGUAGE_CODE.get(code)
    m = re.fullmatch(r"([^\W\d_]+)\s*\(.*\)", t)  # "Arabic (Saudi)"
    if m:
        return _LANGUAGE_CODE.get(m.group(1))
    return None


def split_list(text: str) -> list[str]:
    """Parts of a value that names several things: "Arabic, English", "Arabic and English"."""
    parts = [p.strip() for p in re.split(r"\s*(?:,|/|;|&|\+|\band\b|\bor\b|\bو)\s*", text) if p.strip()]
    return parts if len(parts) > 1 else []
