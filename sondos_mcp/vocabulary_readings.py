"""What a refused value may have meant: one reading (a fix), ranked candidates, or nothing.

Shared by every rule of the vocabulary (`vocabulary_kinds`, `vocabulary_zones`) and by the
feedback that turns readings into a problem's `fix` or `candidates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reading:
    value: Any
    interpretation: str


@dataclass
class Readings:
    """One reading is a fix; several are candidates, most likely first; none is neither."""

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

    @classmethod
    def one(cls, value: Any, interpretation: str) -> Readings:
        return cls(fix=Reading(value, interpretation))


NOTHING = Readings()


def fmt(x: float) -> str:
    """A number as a person writes it: 600, 0.5, 1e-06."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def num(x: float, integer: bool) -> int | float:
    """A computed value as JSON should carry it: whole numbers as integers, no float noise."""
    if integer:
        return round(x)
    x = round(x, 6)
    return int(x) if x.is_integer() else x
