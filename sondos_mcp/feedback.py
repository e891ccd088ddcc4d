"""Turns what is wrong with a proposal into per-field problems an agent can act on.

Each problem names the field (dotted for nested: `post_call_schema.0.name`), the value
received, what is allowed (taken from the advertised input schema, so it cannot disagree
with it) and, wherever one exists, a concrete fix: the nearest bound, the intended enum
value for a case or synonym slip, the intended field for an unknown or misspelled name.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

_ALLOWED_KEYS = ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern")

# Names agents reach for, mapped to the documented field. Includes the stored (list) shape's
# names, which an agent that has just read an assistant is likely to echo back.
FIELD_SYNONYMS: dict[str, str] = {
    "assistant_id": "id",
    "assistantid": "id",
    "assistant": "id",
    "name": "assistant_name",
    "title": "assistant_name",
    "voice": "voice_id",
    "voiceid": "voice_id",
    "model": "llm_model",
    "llm": "llm_model",
    "temperature": "llm_temperature",
    "temp": "llm_temperature",
    "voice_speed": "speech_speed",
    "speed": "speech_speed",
    "speaking_rate": "speech_speed",
    "speaking_speed": "speech_speed",
    "talk_speed": "speech_speed",
    "rate": "speech_speed",
    "direction": "calls_direction",
    "call_direction": "calls_direction",
    "type": "calls_direction",
    "mode": "engine_type",
    "engine": "engine_type",
    "prompt": "system_prompt",
    "instructions": "system_prompt",
    "first_message": "initial_message",
    "greeting": "initial_message",
    "welcome_message": "initial_message",
    "phone_number": "phone_number_id",
    "phone_id": "phone_number_id",
    "webhook": "webhook_url",
    "webhook_enabled": "is_webhook_active",
    "webhook_active": "is_webhook_active",
    "interruptions": "allow_interruptions",
    "allow_interruption": "allow_interruptions",
    "interruptible": "allow_interruptions",
    "fillers": "filler_audios",
    "filler_audio": "filler_audios",
    "record": "record_call",
    "recording": "record_call",
    "record_calls": "record_call",
    "max_duration": "max_call_duration",
    "call_duration": "max_call_duration",
    "reengagement_interval": "re_engagement_interval",
    "silence_timeout": "max_silence_duration",
    "max_silence": "max_silence_duration",
    "stability": "voice_stability",
    "similarity": "voice_similarity",
    "ambient_volume": "ambient_sound_volume",
    "background_volume": "ambient_sound_volume",
    "first_speaker": "who_speaks_first",
    "speaks_first": "who_speaks_first",
    "voicemail_detection": "end_call_on_voicemail",
    "end_on_voicemail": "end_call_on_voicemail",
    "lang": "language",
    "tz": "timezone",
    "time_zone": "timezone",
}

# Enum slips: a value an agent plausibly means, normalised (case-folded, separators removed),
# mapped to the documented value, per field. Case slips of the values themselves are found
# by normalising too, so "Pipeline" needs no entry.
VALUE_SYNONYMS: dict[str, dict[str, str]] = {
    "calls_direction": {
        "inbound": "receive",
        "incoming": "receive",
        "in": "receive",
        "receiving": "receive",
        "outbound": "make",
        "outgoing": "make",
        "out": "make",
        "making": "make",
    },
    "engine_type": {
        "realtime": "multimodal",
        "speechtospeech": "multimodal",
        "sts": "multimodal",
        "s2s": "multimodal",
        "cascade": "pipeline",
        "cascaded": "pipeline",
        "sttllmtts": "pipeline",
    },
    "endpoint_type": {"voiceactivitydetection": "vad", "smart": "ai", "llm": "ai", "model": "ai"},
    "who_speaks_first": {
        "assistant": "AI assistant",
        "ai": "AI assistant",
        "aiassistant": "AI assistant",
        "bot": "AI assistant",
        "agent": "AI assistant",
        "us": "AI assistant",
        "customer": "Customer",
        "caller": "Customer",
        "user": "Customer",
        "human": "Customer",
        "client": "Customer",
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
    },
}

_SECRET_NAME = re.compile(r"key|token|secret|passw|authori[sz]", re.IGNORECASE)
REDACTED = "[redacted]"

_TRUE = {"true", "yes", "on", "1", "enabled", "enable"}
_FALSE = {"false", "no", "off", "0", "disabled", "disable"}


class Fix(BaseModel):
    # Set `field` to `value`; for an unknown field, `field` is the name to use instead.
    field: str
    value: JsonValue


class Problem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    code: str
    message: str
    received: JsonValue = None
    allowed: dict[str, JsonValue] | None = None
    fix: Fix | None = None


def _norm(value: str) -> str:
    return re.sub(r"[\s_\-./]+", "", value.casefold())


def dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def _pattern_key(path: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".*", path)


def schema_at(schema: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The sub-schema describing the value at a dotted path, or None for an undescribed path."""
    node: Mapping[str, Any] | None = schema
    for part in path.split(".") if path else []:
        if node is None:
            return None
        node = node["items"] if part.isdigit() and "items" in node else node.get("properties", {}).get(part)
    return node


def allowed_of(sub: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not sub:
        return None
    allowed = {k: sub[k] for k in _ALLOWED_KEYS if k in sub}
    return allowed or None


def echo(value: Any, limit: int = 160) -> JsonValue:
    """The received value as shown back: long text and large structures are cut short."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… ({len(value)} chars)"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
        if len(text) > limit:
            size = f"{len(value)} {'keys' if isinstance(value, dict) else 'items'}"
            return f"<{type(value).__name__} of {size}>"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _types(sub: Mapping[str, Any]) -> set[str]:
    t = sub.get("type")
    return {t} if isinstance(t, str) else set(t or [])


def _clamp(value: float, sub: Mapping[str, Any]) -> float:
    if "minimum" in sub:
        value = max(value, sub["minimum"])
    if "maximum" in sub:
        value = min(value, sub["maximum"])
    return value


def enum_fix(path: str, value: Any, choices: list[Any]) -> Any | None:
    """The documented enum value the caller most likely meant, if any."""
    if not isinstance(value, str):
        return None
    key = _norm(value)
    for choice in choices:
        if _norm(str(choice)) == key:
            return choice
    synonyms = VALUE_SYNONYMS.get(_pattern_key(path), {})
    if key in synonyms:
        return synonyms[key]
    close = difflib.get_close_matches(key, [_norm(str(c)) for c in choices], n=1, cutoff=0.75)
    if close:
        return next(c for c in choices if _norm(str(c)) == close[0])
    return None


def coerce_fix(value: Any, sub: Mapping[str, Any]) -> Any | None:
    """A value of the right type and within bounds, derived from a value of the wrong one."""
    types = _types(sub)
    if "enum" in sub:
        return None
    if "boolean" in types:
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        return None
    if types & {"number", "integer"}:
        number: float | None = None
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        if number is None or not math.isfinite(number):
            return None
        number = float(_clamp(number, sub))
        if "integer" in types:
            return int(_clamp(round(number), sub))
        return int(number) if number.is_integer() else number
    if types & {"object", "array"} and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        wanted = dict if "object" in types else list
        return parsed if isinstance(parsed, wanted) else None
    if "array" in types and isinstance(value, dict):
        return [value]
    return None


def _pattern_fix(path: str, value: str) -> str | None:
    if _pattern_key(path) == "post_call_schema.*.name":
        fixed = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", value.strip())).strip("_")
        return fixed or None
    if path == "webhook_url":
        stripped = value.strip()
        if stripped and not re.match(r"^[a-z][a-z0-9+.-]*://", stripped, re.I) and " " not in stripped:
            return "https://" + stripped
        if re.match(r"^https?://\S+$", stripped, re.I) and stripped != value:
            return stripped
    return None


def field_suggestion(name: str, valid: Iterable[str]) -> str | None:
    """The documented field an unknown name most likely meant."""
    valid = list(valid)
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    camel = re.sub(r"(?<!^)(?=[A-Z])", "_", name.strip()).lower()
    for candidate in (key, camel):
        if candidate in valid:
            return candidate
        if candidate in FIELD_SYNONYMS and FIELD_SYNONYMS[candidate] in valid:
            return FIELD_SYNONYMS[candidate]
    close = difflib.get_close_matches(camel, valid, n=1, cutoff=0.7)
    return close[0] if close else None


def _bound_message(value: Any, sub: Mapping[str, Any]) -> str:
    lo, hi = sub.get("minimum"), sub.get("maximum")
    if lo is not None and hi is not None:
        return f"{echo(value)} is outside {lo}–{hi}"
    if lo is not None:
        return f"{echo(value)} is below the minimum {lo}"
    return f"{echo(value)} is above the maximum {hi}"


def _type_word(sub: Mapping[str, Any]) -> str:
    words = {"integer": "an integer", "number": "a number", "boolean": "true or false", "string": "a string"}
    words |= {"object": "an object", "array": "an array", "null": "null"}
    return " or ".join(words.get(t, t) for t in sorted(_types(sub)))


class FeedbackBuilder:
    """Builds problems for one proposal, judged against one advertised input schema."""

    def __init__(self, schema: Mapping[str, Any], raw: Mapping[str, Any]) -> None:
        self.schema = schema
        self.raw = raw

    def value_at(self, path: str) -> Any:
        node: Any = self.raw
        for part in path.split(".") if path else []:
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                return None
        return node

    def problem(self, path: str, code: str, message: str, fix: Fix | None = None, **extra: Any) -> Problem:
        received = extra.pop("received", self.value_at(path))
        if _SECRET_NAME.search(path):
            received = REDACTED  # an agent that pastes a credential into a field must not see it echoed
        optional = {"allowed": allowed_of(schema_at(self.schema, path)), "fix": fix}
        return Problem(
            field=path or "(arguments)",
            code=code,
            message=message,
            received=echo(received),
            **{k: v for k, v in optional.items() if v is not None},
        )

    def from_validation_error(self, error: ValidationError) -> list[Problem]:
        problems: list[Problem] = []
        seen: set[tuple[str, str]] = set()
        for err in error.errors():
            prob = self.from_error(err)
            if prob is not None and (prob.field, prob.code) not in seen:
                seen.add((prob.field, prob.code))
                problems.append(prob)
        return problems

    def from_error(self, err: Mapping[str, Any]) -> Problem | None:
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = dotted(loc)
        kind = err["type"]
        sub = schema_at(self.schema, path) or {}
        value = self.value_at(path)
        if kind == "extra_forbidden":
            return self.unknown_field(path)
        if kind == "missing":
            return self.missing(path)
        if value is None and path in self.raw_paths():
            hint = " (use false to turn it off)" if "boolean" in _types(sub) else ""
            return self.problem(
                path, "null_not_allowed", f"null is not accepted; omit the field to leave it unchanged{hint}"
            )
        if kind == "value_error" and not path:
            return None  # cross-field rules are reported by the validation layer, with their field
        if kind in ("greater_than_equal", "less_than_equal", "finite_number"):
            fix = coerce_fix(value, sub)
            return self.problem(path, "out_of_range", _bound_message(value, sub), self._fix(path, fix))
        if kind == "literal_error":
            fix = enum_fix(path, value, list(sub.get("enum", [])))
            choices = ", ".join(json.dumps(c) for c in sub.get("enum", []))
            return self.problem(
                path,
                "not_allowed",
                f"{json.dumps(echo(value))} is not one of {choices}",
                self._fix(path, fix),
            )
        if kind in ("string_too_long", "string_too_short"):
            limit = err.get("ctx", {}).get("max_length" if kind == "string_too_long" else "min_length")
            if kind == "string_too_long":
                msg = f"{len(value)} characters; at most {limit} allowed"
                fix = value[:limit].rstrip() if isinstance(value, str) else None
            else:
                msg = "must not be empty" if limit == 1 else f"at least {limit} characters needed"
                fix = None
            return self.problem(
                path, "too_long" if kind == "string_too_long" else "too_short", msg, self._fix(path, fix)
            )
        if kind == "string_pattern_mismatch":
            fix = _pattern_fix(path, value) if isinstance(value, str) else None
            what = "letters, digits and underscores only" if "name" in path else "not a valid http(s) URL"
            return self.problem(path, "pattern", what, self._fix(path, fix))
        # Every remaining pydantic error is a type mismatch (int_type, bool_type, model_type…).
        fix = coerce_fix(value, sub)
        return self.problem(path, "wrong_type", f"must be {_type_word(sub)}", self._fix(path, fix))

    def raw_paths(self) -> set[str]:
        out: set[str] = set()

        def walk(node: Any, prefix: str) -> None:
            items = node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else []
            for key, child in items:
                path = f"{prefix}.{key}" if prefix else str(key)
                out.add(path)
                walk(child, path)

        walk(self.raw, "")
        return out

    def _fix(self, path: str, value: Any) -> Fix | None:
        return None if value is None else Fix(field=path, value=value)

    def missing(self, path: str) -> Problem:
        if path == "id":
            for alias in ("assistant_id", "assistantId", "assistant"):
                if isinstance(self.raw.get(alias), int):
                    return self.problem("id", "missing", "required", Fix(field="id", value=self.raw[alias]))
        return self.problem(path, "missing", "required")

    def unknown_field(self, path: str) -> Problem:
        parent, _, name = path.rpartition(".")
        parent_schema = schema_at(self.schema, parent) or {}
        valid = list(parent_schema.get("properties", {}))
        target = field_suggestion(name, valid)
        value = self.value_at(path)
        fix: Fix | None = None
        message = "unknown field"
        if target is not None:
            target_path = f"{parent}.{target}" if parent else target
            message = f"unknown field; did you mean {target}?"
            fix = Fix(field=target_path, value=self._renamed_value(target_path, value))
        else:
            message = "unknown field; see the tool's input schema for the accepted names"
        return self.problem(path, "unknown_field", message, fix)

    def _renamed_value(self, target_path: str, value: Any) -> JsonValue:
        sub = schema_at(self.schema, target_path) or {}
        if "enum" in sub:
            return enum_fix(target_path, value, list(sub["enum"])) or value
        if "pattern" in sub and isinstance(value, str):
            return _pattern_fix(target_path, value) or value
        fixed = coerce_fix(value, sub)
        return value if fixed is None else fixed


def suggested_arguments(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    """The proposal with every fix applied, or None when some problem has no fix."""
    if not problems or any(p.fix is None for p in problems):
        return None
    fixed: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    for prob in problems:
        if prob.code == "unknown_field":
            _delete(fixed, prob.field)
    for prob in problems:
        assert prob.fix is not None
        if not _set(fixed, prob.fix.field, prob.fix.value):
            return None
    return fixed


def _walk_to(doc: dict[str, Any], parts: list[str]) -> Any:
    node: Any = doc
    for part in parts:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            return None
    return node


def _set(doc: dict[str, Any], path: str, value: Any) -> bool:
    *parents, last = path.split(".")
    node = _walk_to(doc, parents)
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
        return True
    if isinstance(node, dict):
        node[last] = value
        return True
    return False


def _delete(doc: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node = _walk_to(doc, parents)
    if isinstance(node, dict):
        node.pop(last, None)


def render_problems(problems: list[Problem]) -> list[str]:
    lines = []
    for p in problems:
        line = f"- {p.field}: {p.message}"
        if p.fix is not None:
            target = "" if p.fix.field == p.field else f"{p.fix.field} = "
            sep = " " if p.message.endswith(("?", ".")) else ". "
            line += f"{sep}Fix: {target}{json.dumps(p.fix.value, ensure_ascii=False)}"
        lines.append(line)
    return lines
