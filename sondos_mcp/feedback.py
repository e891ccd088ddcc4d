"""Turns what is wrong with a proposal into per-field problems an agent can act on.

Each problem names the field (dotted for nested: `post_call_schema.0.name`), the value
received, what is allowed (taken from the advertised input schema, so it cannot disagree
with it) and what the value may have meant (`sondos_mcp.vocabulary.interpret`): a `fix` when it
has one plausible reading, ranked `candidates` when it has several. Every fix and candidate
states its reading in `interpretation`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from sondos_mcp.vocabulary import Readings, field_for, interpret

_ALLOWED_KEYS = ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern")

_SECRET_NAME = re.compile(r"key|token|secret|passw|authori[sz]", re.IGNORECASE)
REDACTED = "[redacted]"


class Fix(BaseModel):
    """Set `field` to `value`; for an unknown field, `field` is the name to use instead."""

    field: str
    value: JsonValue
    interpretation: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    code: str
    message: str
    received: JsonValue = None
    allowed: dict[str, JsonValue] | None = None
    fix: Fix | None = None
    # Several plausible readings, most likely first; never together with `fix`.
    candidates: list[Fix] | None = None


class Notice(BaseModel):
    """Something the agent (and the person) should know that refuses nothing: a reference that could
    not be checked, settings that may not fit together, a result cut to its cap."""

    model_config = ConfigDict(extra="forbid")

    code: str
    fields: list[str] = []
    message: str

    def line(self) -> str:
        return f"Warning: {self.message}"


def dotted(loc: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in loc)


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


_MISSING = object()


def _lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path (`post_call_schema.0.name`), or `_MISSING` where there is none."""
    node: Any = doc
    for part in path.split(".") if path else []:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def value_at(doc: Any, path: str) -> Any:
    found = _lookup(doc, path)
    return None if found is _MISSING else found


def has_path(doc: Any, path: str) -> bool:
    return _lookup(doc, path) is not _MISSING


def _types(sub: Mapping[str, Any]) -> set[str]:
    t = sub.get("type")
    return {t} if isinstance(t, str) else set(t or [])


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
        return value_at(self.raw, path)

    def problem(
        self,
        path: str,
        code: str,
        message: str,
        fix: Fix | None = None,
        candidates: list[Fix] | None = None,
        **extra: Any,
    ) -> Problem:
        received = extra.pop("received", self.value_at(path))
        if _SECRET_NAME.search(path):
            received = REDACTED  # an agent that pastes a credential into a field must not see it echoed
        optional: dict[str, Any] = {
            "allowed": allowed_of(schema_at(self.schema, path)),
            "fix": fix,
            "candidates": candidates or None,
        }
        return Problem(
            field=path or "(arguments)",
            code=code,
            message=message,
            received=echo(received),
            **{k: v for k, v in optional.items() if v is not None},
        )

    def read(self, path: str, code: str, message: str, readings: Readings, **extra: Any) -> Problem:
        """A problem carrying what the value may have meant: a fix, or candidates, or neither."""
        one = readings.fix
        fix = None if one is None else Fix(field=path, value=one.value, interpretation=one.interpretation)
        candidates = [Fix(field=path, value=r.value, interpretation=r.interpretation) for r in readings.candidates]
        if readings.note and not fix:
            message = f"{message} ({readings.note})"
        return self.problem(path, code, message, fix, candidates, **extra)

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
            return self.problem(
                path, "unknown_field", "unknown field; see the tool's input schema for the accepted names"
            )
        if kind == "missing":
            return self.problem(path, "missing", "required")
        if value is None and has_path(self.raw, path):
            hint = " (use false to turn it off)" if "boolean" in _types(sub) else ""
            return self.read(
                path,
                "null_not_allowed",
                f"null is not accepted; omit the field to leave it unchanged{hint}",
                interpret(path, None, sub),
            )
        if kind == "value_error" and not path:
            return None  # cross-field rules are reported by the checking pipeline, with their field
        readings = interpret(path, value, sub)
        if kind in ("greater_than_equal", "less_than_equal", "finite_number"):
            return self.read(path, "out_of_range", _bound_message(value, sub), readings)
        if kind == "literal_error":
            choices = ", ".join(json.dumps(c) for c in sub.get("enum", []))
            return self.read(path, "not_allowed", f"{json.dumps(echo(value))} is not one of {choices}", readings)
        if kind == "string_too_long":
            limit = err.get("ctx", {}).get("max_length")
            # Never cut text short to fit: what to leave out is the person's call.
            return self.problem(path, "too_long", f"{len(value)} characters; at most {limit} allowed; shorten it")
        if kind == "string_too_short":
            limit = err.get("ctx", {}).get("min_length")
            return self.problem(
                path, "too_short", "must not be empty" if limit == 1 else f"at least {limit} characters needed"
            )
        if kind == "string_pattern_mismatch":
            what = "letters, digits and underscores only" if "name" in path else "not a valid http(s) URL"
            return self.read(path, "pattern", what, readings)
        # Every remaining pydantic error is a type mismatch (int_type, bool_type, model_type…).
        return self.read(path, "wrong_type", f"must be {_type_word(sub)}", readings)

    def unknown_field(self, path: str) -> Problem:
        parent, _, name = path.rpartition(".")
        valid = list((schema_at(self.schema, parent) or {}).get("properties", {}))
        found = field_for(name, valid)
        if found is None or found[1] is not None:
            return self.problem(
                path, "unknown_field", "unknown field; see the tool's input schema for the accepted names"
            )
        target = f"{parent}.{found[0]}" if parent else found[0]
        fix = Fix(field=target, value=self.value_at(path), interpretation=f"{name} is this tool's {found[0]}")
        return self.problem(path, "unknown_field", f"unknown field; did you mean {found[0]}?", fix)


def suggested_arguments(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    """The proposal with every fix applied, or None when some problem has no single reading."""
    if not problems or any(p.fix is None for p in problems):
        return None
    fixed: dict[str, Any] = copy.deepcopy(dict(raw))
    for prob in problems:
        if prob.code == "unknown_field":
            _delete(fixed, prob.field)
    for prob in problems:
        assert prob.fix is not None
        if not _set(fixed, prob.fix.field, prob.fix.value):
            return None
    return fixed


def apply_fixes(doc: Mapping[str, Any], fixes: Iterable[Fix]) -> dict[str, Any] | None:
    """`doc` with each fix set at its path, in order; None if a path cannot be reached."""
    fixed: dict[str, Any] = copy.deepcopy(dict(doc))
    for fix in fixes:
        if not _set(fixed, fix.field, fix.value):
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
        node[int(last)] = copy.deepcopy(value)
        return True
    if isinstance(node, dict):
        node[last] = copy.deepcopy(value)
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
        sep = " " if p.message.endswith(("?", ".")) else ". "
        if p.fix is not None:
            target = "" if p.fix.field == p.field else f"{p.fix.field} = "
            value = json.dumps(p.fix.value, ensure_ascii=False)
            line += f"{sep}Fix: {target}{value} ({p.fix.interpretation})"
        elif p.candidates:
            options = "; ".join(
                f"{'' if c.field == p.field else c.field + ' = '}{json.dumps(c.value, ensure_ascii=False)} "
                f"({c.interpretation})"
                for c in p.candidates
            )
            line += f"{sep}Which was meant? {options}"
        lines.append(line)
    return lines


__all__ = [
    "FeedbackBuilder",
    "Fix",
    "Problem",
    "apply_fixes",
    "echo",
    "render_problems",
    "schema_at",
    "suggested_arguments",
    "value_at",
]
