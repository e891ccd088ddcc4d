"""Numbers as agents write them: number words, amounts with units, durations in ISO 8601 and clock text.

Not per field: these say what a piece of text holds (an amount and the unit written with it), never
what a field makes of it. The kinds in `vocabulary_kinds` decide that, by the field's scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1", "enabled", "enable", "active", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "off", "0", "disabled", "disable", "inactive", "f"})
# How agents spell "remove" on the fields where null has that meaning.
REMOVAL_WORDS = frozenset({"null", "none", "nil", "", "remove", "delete", "unassign", "unset", "clear"})

MAX_WORDS = frozenset({"max", "maximum", "highest", "longest", "fastest", "full", "most"})
MIN_WORDS = frozenset({"min", "minimum", "lowest", "shortest", "slowest", "least"})
NO_LIMIT_WORDS = frozenset({"unlimited", "nolimit", "infinite", "never", "off", "disabled", "none", "forever", "0"})

_SMALL = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
NUMBER_WORDS: dict[str, float] = {w: i for i, w in enumerate(_SMALL.split())} | {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fortyfive": 45,
    "sixty": 60,
    "ninety": 90,
    "half": 0.5,
}

TIME_UNITS = {
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
UNIT_SECONDS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600}
_UNIT_WORD = {0.001: "ms", 1: "s", 60: "min", 3600: "h"}

# Units written at the end of a field's name (`max_duration_minutes`, `silenceTimeoutMs`).
NAME_UNITS = {
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

# An amount: "12", "-3", "0,5", ".25" (a leading zero left out), "600." (a trailing point).
_AMOUNT = r"[-+]?(?:\d+(?:[.,]\d+)?|[.,]\d+|\d+\.)"


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def parse_number_text(text: str) -> tuple[float, str | None] | None:
    """A number in a string and the unit written with it: "4 min", "2500ms", "65%", "0.95x", "1m30s"."""
    t = text.strip().casefold()
    if not t:
        return None
    if re.search(r"[a-z%]\.$", t):
        t = t[:-1]  # a sentence's full stop: "15 minutes."
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)  # 1,200
    m = re.fullmatch(rf"({_AMOUNT})", t)
    if m:
        return _float(m.group(1)), None
    m = re.fullmatch(rf"({_AMOUNT})\s*(%|percent|pct|per cent)", t)
    if m:
        amount = m.group(1)
        unit = "+%" if amount[0] in "+-" else "%"
        return _float(amount), unit
    m = re.fullmatch(rf"x\s*({_AMOUNT})|({_AMOUNT})\s*(?:x|×|times)", t)
    if m:
        return _float(m.group(1) or m.group(2)), "x"
    m = re.fullmatch(rf"({_AMOUNT})\s*words?", t)
    if m:
        return _float(m.group(1)), "words"
    if t in NUMBER_WORDS and t != "half":
        return float(NUMBER_WORDS[t]), None
    t = re.sub(r"\b(?:half an?|a half)\s+(?=[a-z])", "0.5 ", t)
    t = re.sub(r"\ban?\s+(?=(?:hour|minute|second)s?\b)", "1 ", t)
    # One or more "<amount> <time unit>" parts: "90 s", "4 minutes", "1 min 30 sec", "1h", "two minutes".
    parts = re.findall(r"(\d+(?:[.,]\d+)?|[a-z]+)\s*([a-z]+)\.?(?:\s+and)?\s*", t)
    if parts and "".join(a + u for a, u in parts) == re.sub(r"\s|\band\b", "", t):
        total, smallest = 0.0, None
        for amount, unit_word in parts:
            factor = TIME_UNITS.get(unit_word)
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
        return _float(text)
    except ValueError:
        pass
    key = re.sub(r"[\s\-]+", "", text)
    if key in ("a", "an", "one"):
        return 1
    return NUMBER_WORDS.get(key)


# --- durations written as text -----------------------------------------------------------------


@dataclass
class DurationText:
    """The readings of a duration written as ISO 8601 or clock text, in seconds, each with its words.

    One reading and no `question` is the text's plain meaning; several readings, or a `question`
    (a reading that needs the writer's confirmation), are for the person to choose between.
    """

    readings: list[tuple[float, str]] = field(default_factory=list)
    question: str | None = None


_ISO_PART = r"(\d+(?:[.,]\d+)?)"
_ISO = re.compile(
    rf"P(?!$)(?:{_ISO_PART}Y)?(?:{_ISO_PART}M)?(?:{_ISO_PART}W)?(?:{_ISO_PART}D)?"
    rf"(?:T(?=\d)(?:{_ISO_PART}H)?(?:{_ISO_PART}M)?(?:{_ISO_PART}S)?)?",
    re.IGNORECASE,
)
_CLOCK3 = re.compile(r"(\d{1,2}):([0-5]\d):([0-5]\d)(?:[.,]\d+)?")
_CLOCK2 = re.compile(r"(\d{1,3}):([0-5]\d)(?:\s*([a-z]+)\.?)?")


def duration_text(text: str) -> DurationText | None:
    """A duration in ISO 8601 (`PT10M`, `P0DT1H`) or clock text (`00:07:30`, `5:00`), or None.

    `hh:mm:ss` has one reading; two parts (`05:00`) are mm:ss or hh:mm, unless a unit says which
    (`10:00 min`) or the first part cannot be hours. An ISO `P1M` is a month, which these settings
    cannot mean; that it was meant as `PT1M` is a question, never a fix.
    """
    t = text.strip()
    m = _ISO.fullmatch(t)
    if m:
        years, months, weeks, days, hours, minutes, seconds = (_float(g) if g else 0.0 for g in m.groups())
        if years or (months and any((weeks, days, hours, minutes, seconds))):
            return DurationText()
        if months:
            return DurationText(
                [(months * 60, f"{t} read as PT{t[1:]}, {_amount(months * 60)}")],
                question=f"{t} is {_fmt(months)} month(s) in ISO 8601; minutes are written PT…M",
            )
        total = ((weeks * 7 + days) * 24 + hours) * 3600 + minutes * 60 + seconds
        return DurationText([(total, f"{t} (ISO 8601) = {_fmt(total)} s")])
    m = _CLOCK3.fullmatch(t)
    if m:
        h, mi, s = (int(g) for g in m.groups())
        total = h * 3600 + mi * 60 + s
        return DurationText([(total, f"{t} as hh:mm:ss = {_fmt(total)} s")])
    m = _CLOCK2.fullmatch(t.casefold())
    if m:
        a, b, unit = int(m.group(1)), int(m.group(2)), m.group(3)
        factor = TIME_UNITS.get(unit) if unit else None
        if unit and factor is None:
            return None
        as_mmss = (a * 60 + b, f"{t} as mm:ss = {_fmt(a * 60 + b)} s")
        as_hhmm = (a * 3600 + b * 60, f"{t} as hh:mm = {_fmt(a * 3600 + b * 60)} s")
        if factor == 60:
            return DurationText([as_mmss])
        if factor == 3600:
            return DurationText([as_hhmm])
        if factor is not None:
            return DurationText()  # "5:00 sec": clock text in seconds says nothing plain
        return DurationText([as_mmss, as_hhmm] if a <= 23 else [as_mmss])
    return None


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _amount(seconds: float) -> str:
    return f"{_fmt(seconds / 60)} minute(s)" if seconds >= 60 else f"{_fmt(seconds)} s"
