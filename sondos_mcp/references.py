"""Live lookups (voices, languages, models, phone numbers, assistants), cached briefly and shared.

The cache is keyed by a fingerprint of the API key in use, never the key itself, so that over
HTTP two callers with different keys never see each other's phone numbers or assistants.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sondos_mcp.cache import TTLCache
from sondos_mcp.client import SondosApi
from sondos_mcp.errors import SondosError
from sondos_mcp.feedback import FeedbackBuilder, Fix, Notice, Problem
from sondos_mcp.vocabulary import language_code, split_list


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
) -> tuple[list[Problem], list[Notice]]:
    """Check the reference fields of a resolved proposal against the account's live data.

    A value the contract refused but that names something (a voice by name, a phone number by
    its digits, a language by name or code) is resolved to what the API wants; a well-typed value
    that does not exist is a problem. Returns the problems, refined, and warnings for lookups that
    failed (the value is then sent unchecked).
    """
    warnings: list[Notice] = []
    by_field = {p.field: p for p in problems}

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
    if "voice_id" in resolved:
        voices = await load("voice_id", lookups.voices)
        if voices is not None:
            engine = effective("engine_type") if "engine_type" in resolved else None
            if engine not in _ENGINES:
                engine = None if "engine_type" in resolved else await current_mode()
            outcomes["voice_id"] = _voice(effective("voice_id"), voices, engine, "engine_type" in resolved)
    for name, fetch, judge in (
        ("language", lookups.languages, _language),
        ("llm_model", lookups.models, _model),
        ("phone_number_id", lookups.phone_numbers, _phone),
    ):
        value = effective(name)
        if name not in resolved or value is None or isinstance(value, bool):
            continue
        rows = await load(name, fetch)
        if rows is not None:
            outcomes[name] = judge(value, rows)

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


def _language(value: Any, rows: list[dict[str, Any]]) -> _Outcome:
    names = [r["name"] for r in rows if isinstance(r.get("name"), str)]
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


def _model(value: Any, rows: list[dict[str, Any]]) -> _Outcome:
    names = [r["name"] for r in rows if isinstance(r.get("name"), str)]
    if not isinstance(value, str) or value in names:
        return _Outcome()
    bare = value.rsplit("/", 1)[-1]  # "openai/gpt-4o"
    same = [n for n in names if _norm(n) == _norm(bare)]
    if len(same) == 1:
        return _Outcome(message=f"{value!r} is {same[0]}", fix=(same[0], f"{value!r} is {same[0]} spelled differently"))
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
