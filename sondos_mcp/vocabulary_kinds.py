"""The kinds of field, declared with each field in the model, and each kind's rules for a refused value.

A field says what it is beside its type and bounds (`sondos_mcp.model`):

    max_silence_duration: Annotated[Integer, Seconds(names=("silence_timeout",), vapi=("silenceTimeoutSeconds",))]

Its kind carries what is known about it: what its numbers mean (seconds, a 0–1 fraction, a
multiplier, a count, a 0–N level), the other names it goes by (this API's own variants and the
names other voice platforms use for the same setting), how the assistants list stores it, and
what null means where null is allowed. The checking pipeline, the feedback, the preview and the
sandbox read it from there; `check_complete` refuses a model with a field that does not say.

Each kind reads a value the contract refused by rules of the kind, never per field: a number
with its unit written down (`"4 min"`, `"PT4M"`, `"65%"`) has one reading in the field's unit;
a bare number off the scale, and any text with two readings (`"05:00"`: mm:ss or hh:mm), gets
candidates and no fix.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from sondos_mcp.vocabulary_numbers import (
    FALSE_WORDS,
    MAX_WORDS,
    MIN_WORDS,
    NO_LIMIT_WORDS,
    TRUE_WORDS,
    UNIT_SECONDS,
    duration_text,
    parse_number_text,
)
from sondos_mcp.vocabulary_readings import NOTHING, Reading, Readings, fmt, num

PLATFORMS = ("vapi", "retell", "bland", "elevenlabs")
PLATFORM_LABEL = {"vapi": "Vapi's", "retell": "Retell's", "bland": "Bland's", "elevenlabs": "ElevenLabs'"}


def schema_types(sub: Mapping[str, Any]) -> set[str]:
    t = sub.get("type")
    return {t} if isinstance(t, str) else set(t or [])


def bounds(sub: Mapping[str, Any]) -> tuple[float, float]:
    return float(sub.get("minimum", -math.inf)), float(sub.get("maximum", math.inf))


def norm(text: str) -> str:
    return re.sub(r"[\s_\-./]+", "", text.casefold())


@dataclass(frozen=True, kw_only=True)
class Kind:
    """What one field is. Every field of the update contract declares one (see `check_complete`).

    `names` are the other names the field goes by (snake_case or camelCase: both are folded);
    `vapi`, `retell`, `bland` and `elevenlabs` are the names those platforms' APIs give the same
    setting, dotted where theirs is nested (`stopSpeakingPlan.numWords`). `stored` is the name
    the assistants list uses when it differs. `about` is a short phrase for the field's scale or
    unit, for descriptions and messages (`scale` gives the kind's own when it is not set).
    """

    names: tuple[str, ...] = ()
    vapi: tuple[str, ...] = ()
    retell: tuple[str, ...] = ()
    bland: tuple[str, ...] = ()
    elevenlabs: tuple[str, ...] = ()
    stored: str | None = None
    about: str | None = None

    # What null means on a nullable field (it is then sent as null): "unassign the phone number".
    null_means: str | None = None

    def platform_names(self) -> dict[str, str]:
        """Other platforms' names for this setting, each with whose it is."""
        return {n: PLATFORM_LABEL[p] for p in PLATFORMS for n in getattr(self, p)}

    @property
    def scale(self) -> str | None:
        """The field's scale or unit in a few words (`seconds`, `0–1`), for descriptions and messages."""
        return self.about

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        """Why this kind cannot describe a field of this type (None when it can)."""
        return None

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        """The readings of a value the contract refused, judged by the field's sub-schema."""
        return NOTHING


def _base(annotation: Any) -> tuple[Any, bool]:
    """(the type under Optional and Annotated, whether None is allowed)."""
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, nullable
            annotation = args[0]
        else:
            return annotation, nullable


def _is(annotation: Any, *kinds: type) -> bool:
    base, _ = _base(annotation)
    return isinstance(base, type) and issubclass(base, kinds) and not (base is int and bool in kinds)


# --- numbers -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Number(Kind):
    """A number on the field's own scale, from its bounds. The subclasses add the other scales and
    units a number of their kind is written in; a plain `Number` reads only what is written down.

    `scaled` gives names under which values come on another 0–N scale (another platform's
    0–1 for this API's 0–5): a number that fits both scales under such a name has two readings.
    """

    scaled: Mapping[str, float] = field(default_factory=dict)

    unit_word: ClassVar[str] = ""  # written after a number of this kind in messages (" s")
    # A bare number just off this kind's range most likely meant the nearest bound, in the field's
    # own unit ("every 5 seconds" where 7 is the least): that reading leads the candidates.
    bound_first: ClassVar[bool] = False

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        if not _is(annotation, int, float):
            return "a numeric kind on a field that is not a number"
        if not {"ge", "le"} <= set(constraints):
            return "a numeric kind needs both bounds (ge and le): its scale is read from them"
        return None

    def accepts(self, unit: str) -> bool:
        """Whether a unit written in a field's name or value fits this kind."""
        return False

    def tolerance(self, lo: float, hi: float) -> float:
        """How far past a bound a number is still "just past" it, with no other sensible reading."""
        return 0.0

    def convert(self, x: float, unit: str, path: str) -> tuple[float, str] | Readings:
        """`x` written with `unit`, in the field's own unit, with the words of the reading."""
        return Readings(note=f"{unit} does not fit {path or 'this field'}")

    def off_scale(self, x: float, lo: float, hi: float, integer: bool, beyond: bool) -> list[Reading] | Readings:
        """Readings of a bare number outside the range on another scale (minutes, percent…)."""
        return []

    def words(self, word: str, lo: float, hi: float, integer: bool) -> Readings | None:
        """Readings of a word with no amount (`"normal"`, `"unlimited"`), or None when it is not one."""
        return None

    def text(self, text: str, sub: Mapping[str, Any], path: str) -> Readings | None:
        """Readings of text this kind writes its own way (`"PT10M"`), or None when it is not such text."""
        return None

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        lo, hi = bounds(sub)
        integer = "integer" in schema_types(sub)
        if isinstance(value, bool):
            return NOTHING
        if isinstance(value, str):
            word = norm(value)
            if word in MAX_WORDS and math.isfinite(hi):
                return Readings.one(num(hi, integer), f"{value!r}: the highest allowed, {fmt(hi)}")
            if word in MIN_WORDS and math.isfinite(lo):
                return Readings.one(num(lo, integer), f"{value!r}: the lowest allowed, {fmt(lo)}")
            said = self.words(word, lo, hi, integer)
            if said is not None:
                return said
            own = self.text(value, sub, path)
            if own is not None:
                return own
            parsed = parse_number_text(value)
            if parsed is None:
                return NOTHING
            number, written = parsed
            if written is None and unit is None:
                readings = self.readings(number, sub, path=path)
                if readings.fix is not None and readings.fix.interpretation == "the number itself":
                    return Readings.one(readings.fix.value, f"the number {value!r} written as a string")
                return readings
            if unit is not None and written is not None and written != unit:
                return Readings(note="two units given")
            return self.readings(number, sub, path=path, unit=written or unit)
        if isinstance(value, int | float):
            if not math.isfinite(value):
                return NOTHING
            return self.readings(float(value), sub, path=path, unit=unit)
        return NOTHING

    def readings(self, x: float, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        """Readings of a number for this field; `unit` when the proposal wrote one down."""
        lo, hi = bounds(sub)
        integer = "integer" in schema_types(sub)
        if unit is not None:
            converted = self.convert(x, unit, path)
            if isinstance(converted, Readings):
                return converted
            return self.in_range(converted[0], converted[1], lo, hi, integer)
        if lo <= x <= hi:
            if integer and not float(x).is_integer():
                return self.rounded(x)
            return Readings.one(num(x, integer), "the number itself")
        tol = self.tolerance(lo, hi)
        if tol == 0.0 and not self.off_scale_applies():
            return NOTHING  # a number out of range with no other reading: an id, say
        below = x < lo
        bound = lo if below else hi
        word = "lowest" if below else "highest"
        bound_reading = Reading(num(bound, integer), f"the {word} allowed, {fmt(bound)}{self.unit_word}")
        beyond = abs(x - bound) > tol  # other scales only for numbers clearly off this one
        others = self.off_scale(x, lo, hi, integer, beyond)
        if isinstance(others, Readings):
            return others
        if not others and abs(x - bound) <= tol:
            return Readings.one(bound_reading.value, f"{fmt(x)} is just past the bound; {bound_reading.interpretation}")
        readings = [bound_reading, *others] if self.bound_first else [*others, bound_reading]
        if others and all(r.value == readings[0].value for r in readings):
            # Every reading lands on the same value: that value has one reading after all.
            return Readings.one(readings[0].value, "; ".join(r.interpretation for r in readings))
        return Readings(candidates=readings, note=f"a bare {fmt(x)} has more than one reading")

    def off_scale_applies(self) -> bool:
        return type(self).off_scale is not Number.off_scale

    def rounded(self, x: float) -> Readings:
        return Readings.one(round(x), f"{fmt(x)} rounded to whole {self.unit_word.strip() or 'units'}")

    def in_range(self, value: float, text: str, lo: float, hi: float, integer: bool) -> Readings:
        """A value converted from a written unit: itself when allowed, the bound when just past it."""
        out = num(value, integer)
        if integer and not float(round(value, 6)).is_integer():
            text += f", rounded to {out}"
        if lo <= out <= hi:
            return Readings.one(out, text)
        bound = lo if out < lo else hi
        if abs(out - bound) <= self.tolerance(lo, hi):
            return Readings.one(num(bound, integer), f"{text}, just past the bound; {fmt(bound)} allowed")
        word = (
            ("shortest" if out < lo else "longest") if self.unit_word == " s" else ("lowest" if out < lo else "highest")
        )
        return Readings(
            candidates=[Reading(num(bound, integer), f"{text} is not allowed; the {word} allowed is {fmt(bound)}")],
            note=f"{text} is outside the allowed range",
        )

    def scaled_readings(self, x: float, top: float, sub: Mapping[str, Any]) -> Readings | None:
        """Under a name whose platform uses a 0–`top` scale: two readings when `x` fits both scales."""
        lo, hi = bounds(sub)
        if not (0 <= x <= top and lo <= x <= hi) or x == 0:
            return None
        theirs = num(x * hi / top, "integer" in schema_types(sub))
        if theirs == x:
            return None
        return Readings(
            candidates=[
                Reading(num(x, False), f"{fmt(x)} on this API's {fmt(lo)}–{fmt(hi)} scale"),
                Reading(theirs, f"{fmt(x)} on a 0–{fmt(top)} scale = {fmt(theirs)} here"),
            ],
            note=f"{fmt(x)} fits both a 0–{fmt(top)} scale and this API's",
        )


@dataclass(frozen=True, kw_only=True)
class Seconds(Number):
    """A duration in whole seconds. Read in ms, minutes and hours when written down (in the value or
    the name), in ISO 8601 (`PT10M`) and clock text (`00:07:30`); a bare number off the scale may
    be minutes (below) or milliseconds (above); zero or less may mean "off", which it cannot say."""

    unit_word: ClassVar[str] = " s"
    bound_first: ClassVar[bool] = True

    @property
    def scale(self) -> str | None:
        return self.about or "seconds"

    def accepts(self, unit: str) -> bool:
        return unit in UNIT_SECONDS

    def tolerance(self, lo: float, hi: float) -> float:
        return hi * 0.05

    def convert(self, x: float, unit: str, path: str) -> tuple[float, str] | Readings:
        if unit not in UNIT_SECONDS:
            return Readings(note=f"{unit} does not fit {path or 'a duration'}")
        seconds = x * UNIT_SECONDS[unit]
        said = f"{fmt(x)} {unit}"
        return seconds, said if unit == "s" else f"{said} = {fmt(seconds)} s"

    def rounded(self, x: float) -> Readings:
        return Readings.one(round(x), f"{fmt(x)} rounded to whole seconds")

    def in_range(self, value: float, text: str, lo: float, hi: float, integer: bool) -> Readings:
        if value <= 0 < lo:
            # "0 s", "PT0S": usually "off" or "no limit", which this field cannot say.
            off = self.off_scale(value, lo, hi, integer, True)
            return off if isinstance(off, Readings) else NOTHING
        return super().in_range(value, text, lo, hi, integer)

    def off_scale(self, x: float, lo: float, hi: float, integer: bool, beyond: bool) -> list[Reading] | Readings:
        if x <= 0:
            # 0 or a negative number usually means "off" or "no limit", which this field cannot say.
            return Readings.of(
                [
                    Reading(num(hi, integer), f"no limit / off is not possible; the longest allowed, {fmt(hi)} s"),
                    Reading(num(lo, integer), f"the shortest allowed, {fmt(lo)} s"),
                ],
                note=f"{fmt(x)} may mean off or no limit",
            )
        if x < lo and lo <= x * 60 <= hi:
            return [Reading(num(x * 60, integer), f"{fmt(x)} minutes = {fmt(x * 60)} s")]
        if x > hi and lo <= x / 1000 <= hi:
            return [Reading(num(x / 1000, integer), f"{fmt(x)} milliseconds = {fmt(x / 1000)} s")]
        return []

    def words(self, word: str, lo: float, hi: float, integer: bool) -> Readings | None:
        if word in NO_LIMIT_WORDS:
            return Readings(
                candidates=[Reading(num(hi, integer), f"no limit is not possible; the longest allowed, {fmt(hi)} s")],
                note=f"{word!r} cannot be expressed",
            )
        return None

    def text(self, text: str, sub: Mapping[str, Any], path: str) -> Readings | None:
        found = duration_text(text)
        if found is None:
            return None
        lo, hi = bounds(sub)
        integer = "integer" in schema_types(sub)
        if not found.readings:
            return NOTHING
        each = [self.in_range(seconds, words, lo, hi, integer) for seconds, words in found.readings]
        if len(each) == 1 and found.question is None:
            return each[0]
        # Several readings (or one that is a question): each as a candidate, never a fix.
        readings = [r.fix or (r.candidates[0] if r.candidates else None) for r in each]
        return Readings.of([r for r in readings if r is not None], found.question or f"{text!r} has two readings")


@dataclass(frozen=True, kw_only=True)
class Fraction(Number):
    """A share from 0 to 1. Percent when written down; a bare number above 1 may be on a 0–N scale
    (`scales`, the smallest that holds it: 0–10 or percent; a temperature may be on 0–2)."""

    scales: tuple[float, ...] = (10, 100)

    @property
    def scale(self) -> str | None:
        return self.about or "0–1"

    def accepts(self, unit: str) -> bool:
        return unit == "%"

    def tolerance(self, lo: float, hi: float) -> float:
        return 0.05 + 1e-9

    def convert(self, x: float, unit: str, path: str) -> tuple[float, str] | Readings:
        if unit == "%":
            return x / 100, f"{fmt(x)} percent = {fmt(x / 100)}"
        return Readings(note=f"{'a relative change' if unit == '+%' else unit} does not fit {path or 'a fraction'}")

    def off_scale(self, x: float, lo: float, hi: float, integer: bool, beyond: bool) -> list[Reading] | Readings:
        if not beyond or x < lo:
            return []
        top = next((n for n in sorted(self.scales) if x <= n), None)
        if top is None:
            return []
        words = f"{fmt(x)} percent" if top == 100 else f"{fmt(x)} on a 0–{fmt(top)} scale"
        return [Reading(num(x / top * hi, False), f"{words} = {fmt(x / top * hi)}")]


@dataclass(frozen=True, kw_only=True)
class Multiplier(Number):
    """A factor of normal (1 = normal): `0.9x`, percent of normal (`90%`), a change (`-10%`); a word
    without an amount (`"faster"`) is a question. `of` names what it multiplies ("speed")."""

    of: str = ""

    @property
    def scale(self) -> str | None:
        return self.about or f"1 = normal{' ' + self.of if self.of else ''}"

    @property
    def normal(self) -> str:
        return f"normal {self.of}".strip()

    def accepts(self, unit: str) -> bool:
        return unit in ("%", "+%", "x")

    def tolerance(self, lo: float, hi: float) -> float:
        return 0.05 + 1e-9

    def convert(self, x: float, unit: str, path: str) -> tuple[float, str] | Readings:
        if unit == "%":
            return x / 100, f"{fmt(x)} percent of {self.normal} = {fmt(x / 100)}"
        if unit == "+%":
            return 1 + x / 100, f"{'+' if x >= 0 else ''}{fmt(x)}% from {self.normal} = {fmt(1 + x / 100)}"
        if unit == "x":
            return x, f"{fmt(x)}× {self.normal}"
        return Readings(note=f"{unit} does not fit {path or 'a multiplier'}")

    def off_scale(self, x: float, lo: float, hi: float, integer: bool, beyond: bool) -> list[Reading] | Readings:
        if 50 <= x <= 200 and lo <= x / 100 <= hi:
            return [Reading(num(x / 100, False), f"{fmt(x)} percent of {self.normal} = {fmt(x / 100)}")]
        return []

    def words(self, word: str, lo: float, hi: float, integer: bool) -> Readings | None:
        if word in ("normal", "default", "regular", "standard"):
            return Readings.one(1, f"{word!r} {self.of} is 1".replace("  ", " "))
        if word in ("slow", "slower", "fast", "faster", "quick", "quicker"):
            fast = word.startswith(("fast", "quick"))
            return Readings(
                candidates=[
                    Reading(1.1 if fast else 0.9, f"a little {'faster' if fast else 'slower'} than normal"),
                    Reading(num(hi if fast else lo, False), f"as {'fast' if fast else 'slow'} as allowed"),
                ],
                note=f"{word!r} gives no amount",
            )
        return None


@dataclass(frozen=True, kw_only=True)
class Level(Number):
    """A setting on a 0–N scale (N from the bounds). A bare number above it may be on 0–10 or percent;
    a percent written down is a percent of this scale, which the person should confirm."""

    @property
    def scale(self) -> str | None:
        return self.about

    def accepts(self, unit: str) -> bool:
        return unit == "%"

    def tolerance(self, lo: float, hi: float) -> float:
        return 0.25

    def convert(self, x: float, unit: str, path: str) -> tuple[float, str] | Readings:
        if unit == "%":
            # A percent of a 0–N scale: likely, but a percent of what the person had in mind is theirs to say.
            return Readings(note="a percent of this scale")
        return Readings(note=f"{unit} does not fit {path or 'a level'}")

    def readings(self, x: float, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if unit == "%":
            _, hi = bounds(sub)
            v = num(x / 100 * hi, False)
            return Readings(
                candidates=[Reading(v, f"{fmt(x)} percent of the 0–{fmt(hi)} scale = {fmt(v)}")],
                note=f"a percent of a 0–{fmt(hi)} scale",
            )
        return super().readings(x, sub, path=path, unit=unit)

    def off_scale(self, x: float, lo: float, hi: float, integer: bool, beyond: bool) -> list[Reading] | Readings:
        if not beyond or x < lo:
            return []
        if x <= 10 and hi < 10:
            return [Reading(num(x / 10 * hi, False), f"{fmt(x)} on a 0–10 scale = {fmt(x / 10 * hi)}")]
        if x <= 100:
            return [
                Reading(num(x / 100 * hi, False), f"{fmt(x)} percent of the 0–{fmt(hi)} scale = {fmt(x / 100 * hi)}")
            ]
        return []


@dataclass(frozen=True, kw_only=True)
class Count(Number):
    """A whole number of things (`unit`: "words"); a fraction of one is rounded down or up, a question."""

    unit: str = ""

    @property
    def scale(self) -> str | None:
        return self.about or (self.unit or None)

    def accepts(self, unit: str) -> bool:
        return unit == "words" and self.unit == "words"

    def tolerance(self, lo: float, hi: float) -> float:
        return 1

    def convert(self, x: float, unit: str, path: str) -> tuple[float, str] | Readings:
        if unit == self.unit:
            return x, f"{fmt(x)} {unit}"
        return Readings(note=f"{unit} does not fit {path or 'a count'}")

    def rounded(self, x: float) -> Readings:
        return Readings.of([Reading(math.floor(x), "rounded down"), Reading(math.ceil(x), "rounded up")])


@dataclass(frozen=True, kw_only=True)
class Paging(Number):
    """A read tool's page or page size: clamping a read to its bounds changes nothing."""

    def tolerance(self, lo: float, hi: float) -> float:
        return math.inf

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        return None if _is(annotation, int) else "paging on a field that is not an integer"


# --- switches and choices ------------------------------------------------------------------------


def _truth(value: Any) -> bool | None:
    """A boolean spelt some other way ("yes", "Off", 1, "1.0", "True."), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().casefold().rstrip(".!")
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        parsed = parse_number_text(word)
        if parsed is not None and parsed[1] is None and parsed[0] in (0, 1):
            return bool(parsed[0])
        return None
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


truth = _truth


@dataclass(frozen=True, kw_only=True)
class Switch(Kind):
    """On or off. `negated` names mean the opposite (`block_interruptions` for `allow_interruptions`);
    `disable_…`, `no_…` and `…_disabled` names of the field do too. `stored_flag`: the list stores it
    as 1/0."""

    negated: tuple[str, ...] = ()
    stored_flag: bool = False

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        base, _ = _base(annotation)
        return None if base is bool else "a switch on a field that is not a boolean"

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if isinstance(value, bool):
            return NOTHING
        meant = _truth(value)
        if meant is None:
            return NOTHING
        shown = fmt(value) if isinstance(value, int | float) else repr(value)
        return Readings.one(meant, f"{shown} means {str(meant).lower()}")


@dataclass(frozen=True, kw_only=True)
class Choice(Kind):
    """One of a few values. `spellings` maps other spellings (case and separators folded) to a choice;
    `switches` are names whose true and false pick a choice (`wait_for_greeting`: true is
    "Customer"); `stored_values` maps the list's spellings to the choices."""

    spellings: Mapping[str, str] = field(default_factory=dict)
    switches: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    stored_values: Mapping[str, str] = field(default_factory=dict)

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        base, _ = _base(annotation)
        if typing.get_origin(base) is not Literal:
            return "a choice on a field that is not a Literal"
        choices = set(typing.get_args(base))
        if not self.spellings:
            return "a choice needs its other spellings"
        stray = {v for v in [*self.spellings.values(), *self.stored_values.values()] if v not in choices}
        stray |= {v for pair in self.switches.values() for v in pair if v not in choices}
        return f"spellings name values that are not choices: {sorted(stray)}" if stray else None

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        choices = list(sub.get("enum", []))
        if not isinstance(value, str):
            return NOTHING
        folded = norm(value)
        for choice in choices:
            if norm(str(choice)) == folded:
                return Readings.one(choice, f"{value!r} is {choice!r} spelled differently")
        spelled = self.spellings.get(folded)
        if spelled in choices:
            return Readings.one(spelled, f"{value!r} means {spelled!r} here")
        close = difflib.get_close_matches(folded, [norm(str(c)) for c in choices], n=2, cutoff=0.8)
        if len(close) == 1:
            choice = next(c for c in choices if norm(str(c)) == close[0])
            return Readings.one(choice, f"{value!r} is a misspelling of {choice!r}")
        # "Inbound calls", "the customer": one word names a choice and no other word names another.
        named = set()
        for word in re.findall(r"[^\W_]+", value.casefold()):
            hit = next((c for c in choices if norm(str(c)) == word), None) or self.spellings.get(word)
            if hit in choices:
                named.add(hit)
        if len(named) == 1:
            (choice,) = named
            return Readings.one(choice, f"{value!r} names {choice!r}")
        return NOTHING


# --- text --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Text(Kind):
    """Prose: a prompt, a message, a description. Never shortened, never made from a number or a switch."""

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        return None if _is(annotation, str) else "a text kind on a field that is not a string"


@dataclass(frozen=True, kw_only=True)
class Name(Text):
    """A short name: a number given for it (`2025`) is its digits."""

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return Readings.one(fmt(value), f"the number {fmt(value)} as text")
        return NOTHING


@dataclass(frozen=True, kw_only=True)
class Identifier(Name):
    """A name of letters, digits and underscores: other characters become underscores."""

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if not isinstance(value, str):
            return super().read(value, sub, path=path)
        fixed = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", value.strip())).strip("_")
        if fixed and fixed != value:
            return Readings.one(fixed, f"{value!r} with other characters made underscores")
        return NOTHING


@dataclass(frozen=True, kw_only=True)
class Zone(Text):
    """An IANA time zone name; read by `vocabulary_zones.judge_timezone` in the checking rules."""


# --- URLs ------------------------------------------------------------------------------------

# Characters RFC 3986 allows in a URL (plus non-ASCII, which IRIs and the API allow); a space,
# `<>"{}|\^` or a backtick never belongs in one, and `%` only starts an escape.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%\u0080-\U0010ffff]*")
_LABEL = re.compile(r"(?!-)(?:[^\W_]|-){1,63}(?<!-)")
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}")


# "your-domain.com", "yourserver.com/webhook", "/your_endpoint": what an example says to replace.
_PLACEHOLDER = re.compile(
    r"(?:^|[/.@])your(?:[-_]|(?:domain|server|url|webhook|endpoint|site|host|app|company|api|path|backend|service)\b)",
    re.IGNORECASE,
)


def url_problem(value: str) -> str | None:
    """Why `value` is not an http(s) URL a webhook can be sent to (None when it is one)."""
    m = re.fullmatch(r"(https?)://([^/?#]*)([/?#].*)?", value, re.DOTALL)
    if not m:
        return "not an http(s) URL"
    authority, rest = m.group(2), m.group(3) or ""
    path = re.split(r"[?#]", rest, maxsplit=1)[0]
    bad = sorted({c for c in value if not _URL_CHARS.fullmatch(c)})
    if bad:
        shown = " ".join("a space" if c == " " else repr(c) for c in bad)
        return f"holds characters a URL cannot: {shown}" + (
            " (a placeholder? give the real URL)" if set(bad) & set("<>{}") else ""
        )
    if _PLACEHOLDER.search(authority + path):
        return "a placeholder (your-…): give the real URL"
    if re.search(r"%(?![0-9A-Fa-f]{2})", value):
        return "a % that does not start an escape (%XX)"
    if "[" in path or "]" in path:
        # Brackets belong to an IPv6 host, or a query's `a[]=1`; in a path they are a placeholder.
        return "brackets in the path (a placeholder? give the real URL)"
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        host, _, port = host_port[1:].partition("]")
        port = port[1:] if port.startswith(":") else port
        if not re.fullmatch(r"[0-9A-Fa-f:.]+", host) or (port and not port.isdigit()):
            return "not a valid IPv6 host"
    else:
        host, _, port = host_port.partition(":")
        if port and not (port.isdigit() and int(port) <= 65535):
            return f"not a port: {port!r}"
        if not host:
            return "no host"
        if not (_IPV4.fullmatch(host) or host.casefold() == "localhost" or _hostname(host)):
            return f"{host!r} is not a host name (a placeholder? give the real URL)"
    return None


def _hostname(host: str) -> bool:
    """A dotted DNS name whose last label is a top-level domain (letters): `hooks.example.com`."""
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return bool(re.fullmatch(r"[^\W\d_]{2,}|xn--[\w-]+", labels[-1]))


@dataclass(frozen=True, kw_only=True)
class Url(Text):
    """An http(s) URL, checked as a URL (`url_problem`), not only against the schema's pattern.
    Read when only its wrapping is off: whitespace, quotes or angle brackets around it, a Markdown
    link, the scheme in capitals or missing its colon, no scheme at all."""

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if not isinstance(value, str):
            return NOTHING
        steps = _url_readings(value)
        if steps and url_problem(steps[-1][0]) is None:
            return Readings.one(steps[-1][0], "; ".join(how for _, how in steps))
        return NOTHING


def _url_readings(value: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    text = value.strip()
    if text != value:
        out.append((text, "the URL without surrounding whitespace"))
    m = re.fullmatch(r"""<(.*)>|"(.*)"|'(.*)'|`(.*)`""", text, re.DOTALL)
    if m:
        text = next(g for g in m.groups() if g is not None).strip()
        out.append((text, "the URL without the marks around it"))
    m = re.fullmatch(r"\[[^\]]*\]\((\S+)\)", text)
    if m:
        text = m.group(1)
        out.append((text, "the URL of a Markdown link"))
    m = re.fullmatch(r"(https?)(:/{0,2}|//)(?!/)(.+)", text, re.IGNORECASE | re.DOTALL)
    if m and (m.group(1) != m.group(1).lower() or m.group(2) != "://"):
        text = f"{m.group(1).lower()}://{m.group(3)}"
        out.append((text, f"{value.strip()!r} with its scheme written https:// or http://"))
    host = text.split("/", 1)[0]
    bare = not re.match(r"^[a-z][a-z0-9+.-]*:", text, re.I)
    if bare and " " not in text and re.fullmatch(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?", host, re.I):
        out.append(("https://" + text, f"{value!r} with its https:// scheme"))
    return out


# --- references ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Reference(Kind):
    """Something the account has, by `key` ("id" or "name") in the `lookup` list (voices, languages,
    models, phone_numbers, assistants). Judged against the live list in `sondos_mcp.references`:
    a name for an id, an id for a name, a whole entry pasted, a dated model name."""

    lookup: str
    key: Literal["id", "name"] = "id"

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        if self.key == "id" and not _is(annotation, int):
            return "a reference by id on a field that is not an integer"
        if self.key == "name" and not _is(annotation, str):
            return "a reference by name on a field that is not a string"
        return None

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if self.key != "id" or isinstance(value, bool):
            return NOTHING
        # Digits are the id written as text; out of range, or with a fraction, a number is no id at all.
        if isinstance(value, int | float):
            whole = math.isfinite(value) and float(value).is_integer()
            return Number().readings(float(value), sub) if whole else NOTHING
        return _digits(value, sub)


def _digits(value: Any, sub: Mapping[str, Any]) -> Readings:
    if not isinstance(value, str):
        return NOTHING
    parsed = parse_number_text(value)
    if parsed is None or parsed[1] is not None or not parsed[0].is_integer():
        return NOTHING
    readings = Number().readings(parsed[0], sub)
    if readings.fix is not None:
        return Readings.one(readings.fix.value, f"the number {value!r} written as a string")
    return readings


# --- structures -------------------------------------------------------------------------------


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class Object(Kind):
    """Settings in an object of its own (a nested model). A JSON string is the object; plain text is
    its `text_field` (the tool's description), unless the text is only a switch or null word."""

    text_field: str | None = None

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        return None if _is(annotation, BaseModel) else "an object kind on a field that is not a model"

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if not isinstance(value, str):
            return NOTHING
        parsed = _json(value)
        if isinstance(parsed, dict):
            return Readings.one(parsed, "the object written as a JSON string")
        word = value.strip().casefold()
        if self.text_field and value.strip() and _truth(value) is None and word not in ("null", "none"):
            return Readings.one({self.text_field: value}, f"the text is the {self.text_field}")
        return NOTHING


@dataclass(frozen=True, kw_only=True)
class Entries(Kind):
    """A list of entries (a nested model each). A JSON string is the list; one entry alone is wrapped;
    a map keyed by the entries' names becomes the list."""

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        base, _ = _base(annotation)
        return None if typing.get_origin(base) is list else "entries on a field that is not a list"

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if isinstance(value, str):
            parsed = _json(value)
            if isinstance(parsed, list):
                return Readings.one(parsed, "the list written as a JSON string")
            value = parsed
        if not isinstance(value, dict):
            return NOTHING
        keys = set(sub.get("items", {}).get("properties", {}))
        fields = value.get("properties")
        if isinstance(fields, dict) and fields and set(value) <= {"type", "properties", "required", "title"}:
            # A JSON Schema object (another platform's structured-data schema): its properties are the entries.
            if "name" in keys and all(isinstance(v, dict) and set(v) == keys - {"name"} for v in fields.values()):
                return Readings.one(
                    [{"name": k, **v} for k, v in fields.items()], "the JSON Schema's properties as entries"
                )
            return NOTHING
        if set(value) & keys:
            return Readings.one([value], "one entry, wrapped in a list")
        # {"lead_score": {"type": "number", "description": "…"}}: names as keys.
        rest = keys - {"name"}
        if value and "name" in keys and all(isinstance(v, dict) and set(v) == rest for v in value.values()):
            return Readings.one([{"name": k, **v} for k, v in value.items()], "entries keyed by their name")
        return NOTHING


@dataclass(frozen=True, kw_only=True)
class Pairs(Kind):
    """A map of names to values: from a JSON string, `key=value` text, or a list of key/value pairs."""

    def fits(self, annotation: Any, constraints: Mapping[str, Any]) -> str | None:
        base, _ = _base(annotation)
        return None if typing.get_origin(base) is dict else "pairs on a field that is not a map"

    def read(self, value: Any, sub: Mapping[str, Any], *, path: str = "", unit: str | None = None) -> Readings:
        if isinstance(value, str):
            parsed = _json(value)
            if isinstance(parsed, dict):
                return Readings.one(parsed, "the object written as a JSON string")
            pairs = re.split(r"\s*[;,\n]\s*", value.strip())
            found = [re.fullmatch(r"([A-Za-z_][\w.-]*)\s*[=:]\s*(.+)", p) for p in pairs if p]
            if found and all(found):
                return Readings.one({m.group(1): m.group(2).strip() for m in found if m}, "key=value pairs as a map")
            return NOTHING
        if not isinstance(value, list):
            return NOTHING
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict) and set(item) in ({"key", "value"}, {"name", "value"}):
                k, v = item.get("key", item.get("name")), item["value"]
            elif isinstance(item, list) and len(item) == 2:
                k, v = item
            else:
                return NOTHING
            if not isinstance(k, str) or k in out:
                return NOTHING
            out[k] = v
        return Readings.one(out, "a list of key/value pairs as a map") if out else NOTHING


# --- completeness -------------------------------------------------------------------------------


def kind_of(info: Any) -> Kind | None:
    """The kind a pydantic `FieldInfo` declares in its metadata (one at most)."""
    found = [m for m in getattr(info, "metadata", []) if isinstance(m, Kind)]
    return found[-1] if found else None


def _constraints(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in getattr(info, "metadata", []):
        for name in ("ge", "le", "gt", "lt"):
            if getattr(m, name, None) is not None:
                out[name] = getattr(m, name)
    return out


def incomplete(model: type[BaseModel]) -> list[str]:
    """What is missing from the kinds `model` declares (and its nested models'): empty when complete.

    Complete: every field declares exactly one kind, the kind fits the field's type (a numeric kind
    has both bounds), and the field has at least one other name.
    """
    problems: list[str] = []
    for name, info in model.model_fields.items():
        declared = [m for m in info.metadata if isinstance(m, Kind)]
        where = f"{model.__name__}.{name}"
        if len(declared) != 1:
            problems.append(f"{where}: declares {len(declared)} kinds; one is needed (e.g. Seconds(names=...))")
            continue
        kind = declared[0]
        why = kind.fits(info.annotation, _constraints(info))
        if why:
            problems.append(f"{where}: {why}")
        if not kind.names and not kind.platform_names():
            problems.append(f"{where}: no other names (names=…, or another platform's)")
        base, _ = _base(info.annotation)
        inner = typing.get_args(base)[0] if typing.get_origin(base) is list else base
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            problems += incomplete(inner)
    return problems


def check_complete(model: type[BaseModel]) -> None:
    """Refuse a model whose fields do not each say what they are (run when the model is defined)."""
    problems = incomplete(model)
    if problems:
        raise TypeError("the update contract's field knowledge is incomplete:\n- " + "\n- ".join(problems))
