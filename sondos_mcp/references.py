"""Live lookups (voices, languages, models, phone numbers, assistants), cached briefly and shared.

The cache is keyed by a fingerprint of the API key in use, never the key itself, so that over
HTTP two callers with different keys never see each other's phone numbers or assistants.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sondos_mcp.cache import TTLCache
from sondos_mcp.client import SondosApi
from sondos_mcp.errors import PagingLimit, SondosError
from sondos_mcp.feedback import FeedbackBuilder, Fix, Problem

ASSISTANT_PAGE = 100  # the largest page the list endpoint serves


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

    async def find_assistant(self, assistant_id: int) -> dict[str, Any] | None:
        """Page through the list (no single-assistant endpoint exists), stopping at the first hit."""
        page = 1
        while True:
            answer = await self.assistant_page(page, ASSISTANT_PAGE)
            for row in rows_of(answer):
                if row.get("id") == assistant_id:
                    return row
            last = answer.get("last_page", page) if isinstance(answer, Mapping) else page
            if not isinstance(last, int) or page >= last or not rows_of(answer):
                return None
            page += 1
            if page > self.max_pages:
                raise paging_limit(self.max_pages, last)

    def forget_assistants(self) -> None:
        self.cache.drop(self._key("assistants"))


def paging_limit(max_pages: int, last_page: int) -> PagingLimit:
    return PagingLimit(
        f"Stopped after {max_pages} pages of assistants; the API reports {last_page}",
        hint="Use list_assistants with page= to look further, or raise SONDOS_MAX_PAGES.",
    )


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-.]+", "", text.casefold())


def _closest(value: str, names: list[str], n: int = 3) -> list[str]:
    by_norm = {_norm(name): name for name in names}
    return [by_norm[m] for m in difflib.get_close_matches(_norm(value), list(by_norm), n=n, cutoff=0.5)]


def _choices(rows: list[dict[str, Any]], label: Callable[[dict[str, Any]], str], limit: int = 6) -> str:
    shown = ", ".join(label(r) for r in rows[:limit])
    return shown + (f", … ({len(rows)} in all)" if len(rows) > limit else "")


async def check_references(
    lookups: Lookups,
    builder: FeedbackBuilder,
    raw: Mapping[str, Any],
    contract_problems: list[Problem],
    current_mode: Callable[[], Awaitable[str | None]],
) -> tuple[list[Problem], list[Problem], list[str]]:
    """Check reference fields against live data.

    Returns problems for well-typed values that do not exist, better versions of contract
    problems (a voice given by name gets its id as the fix), and warnings for lookups that failed.
    """
    found: list[Problem] = []
    improved: list[Problem] = []
    warnings: list[str] = []
    wrong_typed = {p.field for p in contract_problems}

    async def load(name: str, fetch: Callable[[], Awaitable[list[dict[str, Any]]]]) -> list[dict[str, Any]] | None:
        try:
            return await fetch()
        except SondosError as exc:
            warnings.append(f"{name} could not be checked against the account ({exc.kind}); sent unchecked")
            return None

    if "voice_id" in raw:
        voices = await load("voice_id", lookups.voices)
        if voices is not None:
            value = raw["voice_id"]
            mode = raw.get("engine_type") if raw.get("engine_type") in ("pipeline", "multimodal") else None
            if "voice_id" in wrong_typed and isinstance(value, str):
                by_name = {_norm(v["name"]): v for v in voices}
                match = by_name.get(_norm(value)) or next(
                    (by_name[_norm(n)] for n in _closest(value, [v["name"] for v in voices], 1)), None
                )
                if match is not None:
                    improved.append(
                        builder.problem(
                            "voice_id",
                            "wrong_type",
                            f"must be a voice id; {value!r} looks like voice {match['id']} ({match['name']})",
                            Fix(field="voice_id", value=match["id"]),
                        )
                    )
            elif "voice_id" not in wrong_typed and isinstance(value, int):
                voice = next((v for v in voices if v.get("id") == value), None)
                if voice is None:
                    fitting = [v for v in voices if mode is None or v.get("mode") == mode]
                    found.append(
                        builder.problem(
                            "voice_id",
                            "unknown_reference",
                            "no such voice; available: "
                            + _choices(fitting, lambda v: f"{v['id']} {v['name']} ({v.get('mode')})"),
                        )
                    )
                else:
                    mode = mode or await current_mode()
                    if mode and voice.get("mode") and voice["mode"] != mode:
                        fitting = [v for v in voices if v.get("mode") == mode]
                        found.append(
                            builder.problem(
                                "voice_id",
                                "wrong_mode",
                                f"voice {value} ({voice['name']}) is a {voice['mode']} voice; the assistant is "
                                f"{mode}. {mode} voices: " + _choices(fitting, lambda v: f"{v['id']} {v['name']}"),
                                _single_fix(
                                    "voice_id",
                                    [v for v in fitting if _norm(v["name"]).startswith(_norm(voice["name"]))],
                                ),
                            )
                        )

    for field, fetch, what in (("language", lookups.languages, "language"), ("llm_model", lookups.models, "model")):
        value = raw.get(field)
        if field not in raw or field in wrong_typed or not isinstance(value, str):
            continue
        rows = await load(field, fetch)
        if rows is None:
            continue
        names = [r["name"] for r in rows if isinstance(r.get("name"), str)]
        if value in names:
            continue
        exact = [n for n in names if _norm(n) == _norm(value)]
        by_code = [r["name"] for r in rows if str(r.get("iso_2", "")).casefold() == value.casefold()]
        guess = (exact or by_code or _closest(value, names, 1) or [None])[0]
        close = _closest(value, names) or names[:6]
        found.append(
            builder.problem(
                field,
                "unknown_reference",
                f"no such {what} name; closest: " + ", ".join(close),
                None if guess is None else Fix(field=field, value=guess),
            )
        )

    if raw.get("phone_number_id") is not None or isinstance(raw.get("phone_number_id"), str):
        value = raw["phone_number_id"]
        phones = await load("phone_number_id", lookups.phone_numbers)
        if phones is not None:
            label = lambda p: f"{p['id']} {p.get('phone_number')} ({p.get('type_label')})"  # noqa: E731
            if "phone_number_id" in wrong_typed and isinstance(value, str):
                digits = re.sub(r"[^\d+]", "", value)
                match = [p for p in phones if re.sub(r"[^\d+]", "", str(p.get("phone_number", ""))) == digits]
                if match:
                    improved.append(
                        builder.problem(
                            "phone_number_id",
                            "wrong_type",
                            f"must be a phone number id; {value!r} is number {match[0]['id']}",
                            Fix(field="phone_number_id", value=match[0]["id"]),
                        )
                    )
            elif (
                isinstance(value, int)
                and "phone_number_id" not in wrong_typed
                and value not in {p.get("id") for p in phones}
            ):
                found.append(
                    builder.problem(
                        "phone_number_id",
                        "unknown_reference",
                        "not one of this account's phone numbers: " + _choices(phones, label),
                    )
                )
    return found, improved, warnings


def _single_fix(field: str, candidates: list[dict[str, Any]]) -> Fix | None:
    return Fix(field=field, value=candidates[0]["id"]) if len(candidates) == 1 else None
