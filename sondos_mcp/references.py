"""Live lookups (voices, languages, models, phone numbers, assistants), cached briefly and shared.

The cache is keyed by a fingerprint of the API key in use, never the key itself, so that over
HTTP two callers with different keys never see each other's phone numbers or assistants.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sondos_mcp.cache import TTLCache
from sondos_mcp.client import SondosApi
from sondos_mcp.errors import SondosError
from sondos_mcp.feedback import FeedbackBuilder, Fix, Notice, Problem
from sondos_mcp.vocabulary_kinds import Kind, Reference
from sondos_mcp.vocabulary_languages import language_code, split_list
from sondos_mcp.vocabulary_readings import NOTHING, Reading, Readings


def rows_of(answer: Any) -> list[dict[str, Any]]:
    """A bare array, or a Laravel-style `{data: [...]}` wrapper; anything else is no rows."""
    rows = answer.get("data") if isinstance(answer, Mapping) else answer
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


@dataclass
class Lookups:
    """The reference data an update is checked against, and the assistants list, per API key."""

    api: SondosApi
    cache: TTLCache
    # Assistants change under us (our own updates, the dashboard); they are cached only briefly.
    assistant_ttl: float = 10.0
    # An upstream may claim any `last_page`; one call walks at most this many (SONDOS_MAX_PAGES).
    max_pages: int = 20

    def _key(self, kind: str, *params: Any) -> tuple[Any, ...]:
        return (self.api.key_fingerprint(), kind, *params)

    async def voices(self) -> list[dict[str, Any]]:
        return await self.cache.get(self._key("voices"), lambda: self._fetch(self.api.list_voices()))

    async def languages(self) -> list[dict[str, Any]]:
        return await self.cache.get(self._key("languages"), lambda: self._fetch(self.api.list_languages()))

    async def models(self) -> list[dict[str, Any]]:
        return await self.cache.get(self._key("models"), lambda: self._fetch(self.api.list_models()))

    async def phone_numbers(self) -> list[dict[str, Any]]:
        return await self.cache.get(self._key("phones"), lambda: self._fetch(self.api.list_phone_numbers()))

    async def _fetch(self, call: Awaitable[Any]) -> list[dict[str, Any]]:
        return rows_of(await call)

    async def assistant_page(self, page: int, per_page: int) -> Any:
        return await self.cache.get(
            self._key("assistants", page, per_page),
            lambda: self.api.list_assistants(page=page, per_page=per_page),
            ttl=self.assistant_ttl,
        )

    def cached_assistant_page(self, page: int, per_page: int) -> Any:
        """A page of the assistants list if it is cached and unexpired, else None; nothing is fetched."""
        return self.cache.peek(self._key("assistants", page, per_page))

    def forget_assistants(self) -> None:
        self.cache.drop(self._key("assistants"))


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-.]+", "", text.casefold())


def _closest(value: str, names: list[str], n: int = 3) -> list[str]:
    by_norm = {_norm(name): name for name in names}
    return [by_norm[m] for m in difflib.get_close_matches(_norm(value), list(by_norm), n=n, cutoff=0.5)]


def _choices(rows: list[dict[str, Any]], label: Callable[[dict[str, Any]], str], limit: int = 6) -> str:
    shown = ", ".join(label(r) for r in rows[:limit])
    return shown + (f", … ({len(rows)} in all)" if len(rows) > limit else "")


@dataclass
class _Outcome:
    """A reference field's verdict: `fix` alone resolves it; otherwise a problem with `code`."""

    code: str | None = None
    message: str = ""
    fix: tuple[Any, str] | None = None
    candidates: list[tuple[Any, str]] = field(default_factory=list)


_ENGINES = ("pipeline", "multimodal")


async def check_references(
    lookups: Lookups,
    builder: FeedbackBuilder,
    resolved: Mapping[str, Any],
    problems: list[Problem],
    current_mode: Callable[[], Awaitable[str | None]],
    kinds: Mapping[str, Kind] | None = None,
) -> tuple[list[Problem], list[Notice]]:
    """Check the reference fields of a resolved proposal against the account's live data.

    The reference fields are those whose kind is a `Reference` (the model says which list each
    names, and by which key). A value the contract refused but that names something (a voice by
    name, a phone number by its digits, a language by name, code or list id, a whole entry pasted
    from a list, a dated model name) is resolved to what the API wants; a well-typed value that
    does not exist is a problem. Returns the problems, refined, and warnings for lookups that
    failed (the value is then sent unchecked).
    """
    warnings: list[Notice] = []
    by_field = {p.field: p for p in problems}
    refs = {n: k for n, k in (kinds or {}).items() if isinstance(k, Reference) and k.lookup in _LISTS}

    def effective(name: str) -> Any:
        # The value as the contract stage left it: its fix if it has one, else as given.
        prob = by_field.get(name)
        if prob is not None and prob.fix is not None and prob.fix.field == name:
            return prob.fix.value
        return resolved.get(name)

    async def load(name: str, fetch: Callable[[], Awaitable[list[dict[str, Any]]]]) -> list[dict[str, Any]] | None:
        try:
            return await fetch()
        except SondosError as exc:
            message = f"{name} could not be checked against the account ({exc.kind}); sent unchecked"
            warnings.append(Notice(code="unchecked_reference", fields=[name], message=message))
            return None

    outcomes: dict[str, _Outcome] = {}
    for name, kind in refs.items():
        value = effective(name)
        if name not in resolved or value is None or isinstance(value, bool):
            continue
        rows = await load(name, getattr(lookups, _LISTS[kind.lookup]))
        if rows is None:
            continue
        if kind.lookup == "voices":
            engine = effective("engine_type") if "engine_type" in resolved else None
            if engine not in _ENGINES:
                engine = None if "engine_type" in resolved else await current_mode()
            changes = "engine_type" in resolved

            def judge(
                v: Any, rows: list[dict[str, Any]] = rows, engine: Any = engine, changes: bool = changes
            ) -> _Outcome:
                return _voice(v, rows, engine, changes)

        else:
            judge = functools.partial(_JUDGES[kind.lookup], rows=rows)
        outcomes[name] = _entry(value, name, kind, judge, rows) or judge(value)

    out = list(problems)
    for name, outcome in outcomes.items():
        prob = by_field.get(name)
        if outcome.code is None and outcome.fix is None:
            continue  # exists (or, for a contract fix, the fixed value exists)
        if prob is not None and prob.code not in ("wrong_type", "unknown_reference"):
            continue  # the contract's own problem (too long, null) stands
        fix = None if outcome.fix is None else Fix(field=name, value=outcome.fix[0], interpretation=outcome.fix[1])
        candidates = [Fix(field=name, value=v, interpretation=why) for v, why in outcome.candidates]
        code = prob.code if prob is not None and outcome.fix is not None else outcome.code or "unknown_reference"
        message = outcome.message if prob is None or outcome.code else f"{prob.message}; {outcome.message}"
        new = builder.problem(name, code, message, fix, candidates)
        if prob is not None:
            out[out.index(prob)] = new
        else:
            out.append(new)
    return out, warnings


# The lookup each `Reference.lookup` reads (assistants are judged by the checking pipeline itself).
_LISTS = {"voices": "voices", "languages": "languages", "models": "models", "phone_numbers": "phone_numbers"}


def _entry(
    value: Any, name: str, kind: Reference, judge: Callable[[Any], _Outcome], rows: list[dict[str, Any]]
) -> _Outcome | None:
    """A whole entry pasted from a list where its id or name belongs (`{"id": 3, "name": "Omar", …}`).

    Its id and its name are each judged; when every one names the same thing, that is the fix;
    when they name different things, each is a candidate. None when `value` is no entry: not an
    object, or one holding a key the list's entries do not have (`{"id": 3, "speed": 0.9}` asks
    for more than a voice, and what it asks is never dropped).
    """
    what = kind.lookup.replace("_", " ").rstrip("s")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
        if type(value) in (int, str):
            outcome = judge(value)
            if outcome.code is not None:
                return outcome
            one = value if outcome.fix is None else outcome.fix[0]
            return _Outcome(message=f"a list of one {what}", fix=(one, f"the one {what} in the list, {one!r}"))
    if not isinstance(value, dict):
        return None
    keys = ("id", name, _camel(name), "name", "phone_number", "number", "iso_2", "code")
    if not set(value) <= set(keys).union(*rows):
        return None
    plain = [(value[k], k) for k in dict.fromkeys(keys) if k in value and type(value[k]) in (int, str)]
    if not plain:
        return None
    found: list[tuple[Any, str]] = []
    failed: _Outcome | None = None
    for v, key in plain:
        if kind.key == "id" and isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        outcome = judge(v)
        if outcome.code is None:
            found.append((v if outcome.fix is None else outcome.fix[0], key))
        elif failed is None:
            failed = outcome
    values = list(dict.fromkeys(v for v, _ in found))
    if len(values) == 1 and failed is None:
        keys_said = " and ".join(k for _, k in found)
        return _Outcome(
            message=f"a whole {what} entry was given",
            fix=(values[0], f"the {what} entry given whole: its {keys_said} point to {values[0]!r}"),
        )
    if values:
        return _Outcome(
            "ambiguous_reference",
            f"the {what} entry's {' and '.join(k for _, k in plain)} do not name the same {what}",
            candidates=[(v, f"by the entry's {k}") for v, k in found],
        )
    return failed


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def nearby_assistants(value: Any, rows: Mapping[int, dict[str, Any]]) -> Readings:
    """The account's assistants an id, a name or a pasted list row may have meant.

    A row pasted whole (or its name) whose id and name agree with one row is that assistant; an id
    the account does not have gets the ids near it as candidates, never a fix.
    """
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    label = lambda i: f"assistant {i}, {rows[i].get('name')}"  # noqa: E731
    if isinstance(value, dict):
        if not set(value) <= _ROW_KEYS.union(*rows.values()):
            return NOTHING  # more than a row of the list: not read as one
        given_id = next((value[k] for k in ("id", "assistant_id", "assistantId") if k in value), None)
        given_name = value.get("name")
        by_id = given_id if type(given_id) is int and given_id in rows else None
        by_name = _assistant_named(given_name, rows) if isinstance(given_name, str) else None
        if by_id is not None and (given_name is None or by_name == by_id):
            return Readings.one(by_id, f"the list row given whole: {label(by_id)}")
        options = [i for i in dict.fromkeys((by_id, by_name)) if i is not None]
        return (
            Readings.of([Reading(i, label(i)) for i in options], "the row's id and name disagree")
            if options
            else NOTHING
        )
    if isinstance(value, str):
        one = _assistant_named(value, rows)
        return Readings.one(one, f"{value!r} is the name of {label(one)}") if one is not None else NOTHING
    if type(value) is not int:
        return NOTHING
    near = sorted(rows, key=lambda i: (not _one_edit(str(i), str(value)), abs(i - value)))[:4]
    return Readings(candidates=[Reading(i, label(i)) for i in near], note="an id this account does not have")


# What list_assistants and get_assistant show of a row, besides the list's own keys.
_ROW_KEYS = frozenset({"id", "assistant_id", "assistantId", "name", "status", "direction", "mode", "settings", "other"})


def _assistant_named(name: str, rows: Mapping[int, dict[str, Any]]) -> int | None:
    named = [i for i, r in rows.items() if _norm(str(r.get("name", ""))) == _norm(name)]
    return named[0] if len(named) == 1 else None


def _one_edit(a: str, b: str) -> bool:
    """One digit added, dropped, changed or two swapped: how an id is mistyped."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    return len(long) - len(short) == 1 and any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _voice_label(v: dict[str, Any]) -> str:
    return f"{v['id']} {v['name']} ({v.get('mode')})"


def _voice(value: Any, voices: list[dict[str, Any]], engine: str | None, engine_changes: bool) -> _Outcome:
    fitting = [v for v in voices if engine is None or v.get("mode") == engine]
    whose = "the proposal's" if engine_changes else "the assistant's"
    if isinstance(value, int) and not isinstance(value, bool):
        voice = next((v for v in voices if v.get("id") == value), None)
        if voice is None:
            return _Outcome("unknown_reference", "no such voice; available: " + _choices(fitting, _voice_label))
        if engine and voice.get("mode") and voice["mode"] != engine:
            return _other_engine(voice, fitting, engine, whose)
        return _Outcome()
    if not isinstance(value, str):
        return _Outcome("wrong_type", "must be a voice id; see list_voices")
    named = [v for v in voices if _norm(str(v.get("name", ""))) == _norm(value)]
    usable = [v for v in named if engine is None or v.get("mode") == engine]
    if len(usable) == 1:
        v = usable[0]
        return _Outcome(
            message=f"{value!r} is voice {v['id']} ({v['name']})",
            fix=(v["id"], f"the voice named {v['name']} is id {v['id']} ({v.get('mode')})"),
        )
    if len(usable) > 1:
        return _Outcome(
            "ambiguous_reference",
            f"several voices are named {value!r}",
            candidates=[(v["id"], f"voice {v['id']} {v['name']} ({v.get('mode')})") for v in usable],
        )
    if named:
        return _other_engine(named[0], fitting, engine or "", whose)
    close = _closest(value, [str(v.get("name")) for v in fitting], n=3)
    near = [v for v in fitting if v.get("name") in close]
    return _Outcome(
        "unknown_reference",
        f"no voice is named {value!r}; available: " + _choices(fitting, _voice_label),
        candidates=[(v["id"], f"the closest name, {v['name']}") for v in near],
    )


def _other_engine(voice: dict[str, Any], fitting: list[dict[str, Any]], engine: str, whose: str) -> _Outcome:
    # Another voice is another voice, even one with a similar name: offered, never chosen.
    similar = [v for v in fitting if _norm(v["name"]).startswith(_norm(voice["name"]))]
    return _Outcome(
        "wrong_mode",
        f"voice {voice['id']} ({voice['name']}) is a {voice.get('mode')} voice; {whose} engine is {engine}. "
        f"{engine} voices: " + _choices(fitting, lambda v: f"{v['id']} {v['name']}"),
        candidates=[(v["id"], f"{v['name']}, the {engine} voice of a similar name") for v in similar],
    )


def _by_list_id(value: Any, rows: list[dict[str, Any]], what: str) -> _Outcome | None:
    """A name-keyed reference given by its id in the lookup list (`language: 8` for Arabic)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if type(value) is not int:
        return None
    named = [r["name"] for r in rows if r.get("id") == value and isinstance(r.get("name"), str)]
    if len(named) == 1:
        return _Outcome(
            message=f"{value} is {named[0]}", fix=(named[0], f"{value} is the id of {named[0]} in list_{what}s")
        )
    return _Outcome("unknown_reference", f"no {what} has the id {value}; the API wants the name (list_{what}s)")


def _language(value: Any, rows: list[dict[str, Any]]) -> _Outcome:
    names = [r["name"] for r in rows if isinstance(r.get("name"), str)]
    if value not in names and (by_id := _by_list_id(value, rows, "language")) is not None:
        return by_id
    if isinstance(value, list):
        texts = [v for v in value if isinstance(v, str)]
        if len(texts) == 1 and len(value) == 1:
            one = _language_name(texts[0], rows)
            if one:
                return _Outcome(fix=(one, f"the one language in the list, {one}"))
        found = [n for n in (_language_name(t, rows) for t in texts) if n]
        return _Outcome(
            "one_language_only",
            "one language per assistant; which one?",
            candidates=[(n, f"only {n}") for n in found],
        )
    if not isinstance(value, str) or value in names:
        return _Outcome()
    one = _language_name(value, rows)
    if one is not None:
        return _Outcome(message=f"{value!r} is {one}", fix=(one, f"{value!r} is the language {one}"))
    parts = split_list(value)
    found = [n for n in (_language_name(part, rows) for part in parts) if n]
    if len(parts) > 1 and found:
        return _Outcome(
            "one_language_only",
            f"{value!r} names several languages; an assistant speaks one",
            candidates=[(n, f"only {n}") for n in found],
        )
    close = _closest(value, names)
    return _Outcome(
        "unknown_reference",
        "no such language name; closest: " + ", ".join(close or names[:6]) + " (list_languages has all)",
        candidates=[(n, f"the closest name, {n}") for n in close[:1]] if close else [],
    )


def _language_name(text: str, rows: list[dict[str, Any]]) -> str | None:
    for r in rows:
        if isinstance(r.get("name"), str) and _norm(r["name"]) == _norm(text):
            return r["name"]
    code = language_code(text)
    match = [r["name"] for r in rows if code and str(r.get("iso_2", "")).casefold() == code]
    return match[0] if len(match) == 1 else None


# A snapshot date, version or tag at the end of a model name: -2024-07-18, -20240718, -0613, -001,
# -latest, " (2024-08-06)".
_DATED = re.compile(r"\s*\(.*\)$|[-_ .@:]?(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{3}|latest)$", re.IGNORECASE)


def _model(value: Any, rows: list[dict[str, Any]]) -> _Outcome:
    names = [r["name"] for r in rows if isinstance(r.get("name"), str)]
    if value not in names and (by_id := _by_list_id(value, rows, "model")) is not None:
        return by_id
    if not isinstance(value, str) or value in names:
        return _Outcome()
    bare = value.strip().rsplit("/", 1)[-1]  # "openai/gpt-4o"
    same = [n for n in names if _norm(n) == _norm(bare)]
    if len(same) == 1:
        return _Outcome(message=f"{value!r} is {same[0]}", fix=(same[0], f"{value!r} is {same[0]} spelled differently"))
    undated = _DATED.sub("", bare)
    same = [n for n in names if _norm(n) == _norm(undated)] if undated != bare else []
    if len(same) == 1:
        # One listed model is this one without its snapshot date: the account offers it by that name.
        return _Outcome(message=f"{value!r} is {same[0]}", fix=(same[0], f"{value!r} is a dated snapshot of {same[0]}"))
    # A different model is a different model: listed, never substituted.
    return _Outcome(
        "unknown_reference",
        f"no model is named {value!r}; available: " + ", ".join(names) + " (list_models)",
    )


def _phone(value: Any, rows: list[dict[str, Any]]) -> _Outcome:
    label = lambda p: f"{p['id']} {p.get('phone_number')} ({p.get('type_label')})"  # noqa: E731
    ids = {p.get("id") for p in rows}
    digits = re.sub(r"\D", "", str(value)) if isinstance(value, int | str) else ""
    if isinstance(value, int) and value in ids:
        return _Outcome()
    if len(digits) >= 7:

        def number(p: dict[str, Any]) -> str:
            return re.sub(r"\D", "", str(p.get("phone_number", "")))

        match = [p for p in rows if number(p) == digits] or [
            p for p in rows if len(digits) >= 9 and number(p).endswith(digits[-9:])
        ]
        if len(match) == 1:
            p = match[0]
            return _Outcome(
                message=f"{value!r} is number {p['id']}",
                fix=(p["id"], f"the account's number {p.get('phone_number')} is id {p['id']}"),
            )
        return _Outcome("not_yours", f"{value!r} is not one of this account's numbers: " + _choices(rows, label))
    return _Outcome("unknown_reference", "not one of this account's phone numbers: " + _choices(rows, label))


_JUDGES: dict[str, Callable[..., _Outcome]] = {
    "languages": lambda value, rows: _language(value, rows),
    "models": lambda value, rows: _model(value, rows),
    "phone_numbers": lambda value, rows: _phone(value, rows),
}
