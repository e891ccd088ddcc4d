"""Policies: what this server may change, read from a TOML file (`SONDOS_POLICY`) at start-up.

A policy can make the server read-only (write tools are not even listed), limit which
assistants may be changed (ids or name patterns), which fields (allowed or denied), narrow the
bounds of numeric fields, and say which changes the person must confirm. Over HTTP with named
tokens, `[tokens.<name>]` tables give a token its own policy (unset keys inherit the top level).
With OAuth sign-in, `[groups.<name>]` tables give the members of a group (the token's group
claim) their policy, and `[scopes.<name>]` tables the holders of a scope: the first group table
in the file that names one of the person's groups wins, else the first scope table naming one of
the token's scopes, else the top level.

The advertised `update_assistant` schema is narrowed by the policy (denied fields absent,
tighter bounds written as bounds), and `problems()` enforces the same limits as `Problem`s
with code `policy`; a property test holds the two to the same verdict.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from sondos_mcp.feedback import FeedbackBuilder, Problem
from sondos_mcp.model import UPDATE_FIELDS, AssistantUpdate

# Strict floats take TOML integers too; bounds are written back as integers where they are whole.
Number = StrictFloat
AssistantRef = StrictInt | str


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file's line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bound(_Strict):
    min: Number | None = None
    max: Number | None = None

    @field_validator("min", "max")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"a bound must be a finite number, not {value}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Bound:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class ConfirmRule(_Strict):
    fields: list[str] = Field(default_factory=list)
    assistants: list[AssistantRef] = Field(default_factory=list)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, names: list[str]) -> list[str]:
        _check_fields(names)
        return names


def _check_fields(names: Sequence[str] | None) -> None:
    for name in names or ():
        if name not in UPDATE_FIELDS:
            raise ValueError(f"{name!r} is not an update_assistant field")


class PolicyRules(_Strict):
    read_only: StrictBool = False
    allowed_assistants: list[AssistantRef] | None = None
    allowed_fields: list[str] | None = None
    denied_fields: list[str] = Field(default_factory=list)
    bounds: dict[str, Bound] = Field(default_factory=dict)
    confirm: Literal["always", "never"] | ConfirmRule = "never"

    @field_validator("allowed_fields", "denied_fields")
    @classmethod
    def _known_fields(cls, names: list[str] | None) -> list[str] | None:
        _check_fields(names)
        return names

    @field_validator("bounds")
    @classmethod
    def _numeric(cls, bounds: dict[str, Bound]) -> dict[str, Bound]:
        _check_fields(list(bounds))
        for name, bound in bounds.items():
            if name not in _numeric_fields():
                raise ValueError(f"bounds apply to numeric fields; {name!r} is not one")
            _possible(name, bound)
        return bounds


def _possible(name: str, bound: Bound) -> None:
    """Refuse a bound that, with the contract's own, leaves no value at all (every call would be refused)."""
    low, high, kind = _numeric_fields()[name]
    if bound.max is not None and low is not None and bound.max < low:
        raise ValueError(f"{name!r} max {bound.max:g} is below the contract's minimum {low:g}, so no value is left")
    if bound.min is not None and high is not None and bound.min > high:
        raise ValueError(f"{name!r} min {bound.min:g} is above the contract's maximum {high:g}, so no value is left")
    if kind == "integer":
        lo = max(x for x in (low, bound.min, -math.inf) if x is not None)
        hi = min(x for x in (high, bound.max, math.inf) if x is not None)
        if math.ceil(lo) > math.floor(hi):
            raise ValueError(f"{name!r} takes whole numbers, and there is no whole number from {lo:g} to {hi:g}")


class PolicyFile(PolicyRules):
    tokens: dict[str, PolicyRules] = Field(default_factory=dict)
    groups: dict[str, PolicyRules] = Field(default_factory=dict)
    scopes: dict[str, PolicyRules] = Field(default_factory=dict)


@functools.cache
def _numeric_fields() -> dict[str, tuple[float | None, float | None, str]]:
    """Ranged numeric update fields: (contract minimum, contract maximum, JSON type)."""
    from sondos_mcp.schema import model_schema

    props = model_schema(AssistantUpdate)["properties"]
    return {
        name: (p.get("minimum"), p.get("maximum"), p["type"])
        for name, p in props.items()
        if p.get("type") in ("integer", "number") and ("minimum" in p or "maximum" in p)
    }


@dataclass(frozen=True)
class Policy:
    """One caller's effective rules."""

    rules: PolicyRules
    name: str = "default"

    @property
    def read_only(self) -> bool:
        return self.rules.read_only

    def field_allowed(self, field: str) -> bool:
        if field in self.rules.denied_fields:
            return False
        return self.rules.allowed_fields is None or field in self.rules.allowed_fields

    def assistant_allowed(self, assistant_id: int, name: str | None) -> bool:
        allowed = self.rules.allowed_assistants
        return allowed is None or _matches(allowed, assistant_id, name)

    def bounds(self, field: str) -> tuple[float | None, float | None]:
        """The effective (minimum, maximum): the tighter of the contract's and the policy's."""
        low, high, _ = _numeric_fields().get(field, (None, None, ""))
        bound = self.rules.bounds.get(field)
        if bound is not None:
            if bound.min is not None:
                low = bound.min if low is None else max(low, bound.min)
            if bound.max is not None:
                high = bound.max if high is None else min(high, bound.max)
        return _whole(low), _whole(high)

    def needs_confirmation(self, assistant_id: int, name: str | None, fields: Sequence[str]) -> bool:
        rule = self.rules.confirm
        if rule == "always":
            return True
        if rule == "never":
            return False
        assert isinstance(rule, ConfirmRule)
        return any(f in rule.fields for f in fields) or _matches(rule.assistants, assistant_id, name)

    def narrow(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """`schema` (update_assistant's) as this policy allows it: denied fields removed, bounds tightened.

        Computed once per policy and schema; callers must not modify the result.
        """
        key = (id(self), id(schema))
        if key not in _NARROWED:
            _NARROWED[key] = (self, schema, self._narrow(schema))
        return _NARROWED[key][2]

    def _narrow(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(dict(schema))
        props = out["properties"]
        for field in [f for f in props if f in UPDATE_FIELDS]:
            if not self.field_allowed(field):
                del props[field]
            elif field in self.rules.bounds:
                low, high = self.bounds(field)
                if low is not None:
                    props[field]["minimum"] = low
                if high is not None:
                    props[field]["maximum"] = high
        return out

    def problems(
        self,
        schema: Mapping[str, Any],
        raw: Mapping[str, Any],
        assistant_id: int | None,
        assistant_name: str | None,
        path: str = "",
    ) -> list[Problem]:
        """Every way the proposal oversteps this policy, as `policy` problems (nothing is sent)."""
        builder = FeedbackBuilder(schema, raw)
        prefix = f"{path}." if path else ""
        found: list[Problem] = []
        if self.read_only:
            return [builder.problem("", "policy", "this server is read-only by policy; nothing may be changed")]
        if assistant_id is not None and not self.assistant_allowed(assistant_id, assistant_name):
            label = f"assistant {assistant_id}" + (f" ({assistant_name})" if assistant_name else "")
            found.append(builder.problem("id", "policy", f"{label} may not be changed under this server's policy"))
        fields = raw.get(path, {}) if path else raw
        if not isinstance(fields, Mapping):
            return found
        for field, value in fields.items():
            if field not in UPDATE_FIELDS:
                continue
            if not self.field_allowed(field):
                found.append(builder.problem(prefix + field, "policy", "this field may not be changed by policy"))
                continue
            if field in self.rules.bounds and isinstance(value, int | float) and not isinstance(value, bool):
                low, high = self.bounds(field)
                if (low is not None and value < low) or (high is not None and value > high):
                    found.append(
                        builder.problem(prefix + field, "policy", f"policy allows {_span(low, high)} for this field")
                    )
        return found


# (policy, schema, narrowed): the first two are kept so their ids stay theirs.
_NARROWED: dict[tuple[int, int], tuple[Policy, Mapping[str, Any], dict[str, Any]]] = {}


def _whole(value: float | None) -> float | None:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _span(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _matches(refs: Sequence[int | str], assistant_id: int, name: str | None) -> bool:
    for ref in refs:
        if isinstance(ref, int):
            if ref == assistant_id:
                return True
        elif name is not None and fnmatch.fnmatchcase(name.casefold(), ref.casefold()):
            return True
    return False


OPEN = Policy(PolicyRules(), name="open")


@dataclass(frozen=True)
class Policies:
    """The file's default policy and the per-token, per-group and per-scope ones (in file order)."""

    default: Policy = OPEN
    by_token: Mapping[str, Policy] | None = None
    by_group: Mapping[str, Policy] | None = None
    by_scope: Mapping[str, Policy] | None = None

    def for_actor(self, actor: str) -> Policy:
        if self.by_token and actor.startswith("token:"):
            return self.by_token.get(actor[6:], self.default)
        return self.default

    def for_person(self, groups: Sequence[str], scopes: Sequence[str] | frozenset[str]) -> Policy:
        """A signed-in person's policy: by group first, then by scope, each in the file's order."""
        for table, held in ((self.by_group, set(groups)), (self.by_scope, set(scopes))):
            for name, policy in (table or {}).items():
                if name in held:
                    return policy
        return self.default

    @property
    def all(self) -> list[Policy]:
        tables = (self.by_token, self.by_group, self.by_scope)
        return [self.default, *(p for table in tables for p in (table or {}).values())]


def load_policies(path: Path) -> Policies:
    """Read and check the policy file; any problem is a `PolicyError` naming the line."""
    import tomllib

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # newlines as read_text reads them
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PolicyError(
            f"{path}, line {line}: the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    try:
        parsed = PolicyFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        named = re.search(r"'([A-Za-z_]\w*)'", err["msg"])
        # Union members add their type to the location (int, literal[…]); the file's reader needs the keys.
        where = ".".join(str(p) for p in loc if isinstance(p, int) or _KEY.match(str(p))) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        raise PolicyError(
            f"{path}, line {_line_of(text, loc + ((named[1],) if named else ()))}: {where}: {message}"
        ) from exc
    base = parsed.model_dump(exclude={"tokens", "groups", "scopes"}, exclude_unset=True)
    default = Policy(PolicyRules.model_validate(base), name="default")

    def table(kind: str, entries: dict[str, PolicyRules]) -> dict[str, Policy]:
        return {
            name: Policy(PolicyRules.model_validate(base | rules.model_dump(exclude_unset=True)), name=f"{kind}:{name}")
            for name, rules in entries.items()
        }

    return Policies(
        default,
        table("token", parsed.tokens),
        table("group", parsed.groups) or None,
        table("scope", parsed.scopes) or None,
    )


_KEY = re.compile(r"^(?!(?:int|float|str|bool|ConfirmRule)$)[A-Za-z_][\w-]*$")


def _line_of(text: str, loc: tuple[Any, ...]) -> int:
    """The line where the key at `loc` is written (a table header or `key =`), best effort."""
    lines = text.splitlines()
    keys = [str(k) for k in loc if isinstance(k, str) and k not in ("int", "str", "float", "ConfirmRule")]
    line = 0
    for key in keys:
        pattern = re.compile(
            rf"^\s*\[+[^\]]*(?<![\w-]){re.escape(key)}(?![\w-])[^\]]*\]+|(?<![\w-])\"?{re.escape(key)}\"?\s*="
        )
        for i in range(line, len(lines)):
            if pattern.search(lines[i]):
                line = i
                break
    return line + 1
