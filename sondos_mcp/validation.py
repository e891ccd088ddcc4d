"""Checks one `update_assistant` proposal completely and reports every problem at once.

Two layers:
- the contract: `UpdateAssistantArgs` (types, bounds, enums, lengths, unknown fields, the
  cross-field rules). This layer and the advertised JSON Schema give the same verdict on
  every input; a property test holds them to it.
- checks beyond what JSON Schema can say: the timezone is a real IANA name. Live reference
  checks (voices, phone numbers, languages, models) build on this layer.
"""

from __future__ import annotations

import difflib
import functools
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from sondos_mcp.feedback import FeedbackBuilder, Fix, Problem, suggested_arguments
from sondos_mcp.model import NOTHING_TO_UPDATE, WEBHOOK_CONFLICT, UpdateAssistantArgs


@dataclass
class Verdict:
    args: UpdateAssistantArgs | None
    problems: list[Problem] = field(default_factory=list)
    suggested: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.args is not None and not self.problems


def check_update(raw: Mapping[str, Any], input_schema: Mapping[str, Any], *, suggest: bool = True) -> Verdict:
    """Judge a proposal; `input_schema` is the advertised schema the feedback quotes from."""
    builder = FeedbackBuilder(input_schema, raw)
    args: UpdateAssistantArgs | None = None
    problems: list[Problem] = []
    try:
        args = UpdateAssistantArgs.model_validate(dict(raw))
    except ValidationError as exc:
        problems = builder.from_validation_error(exc)
    fields = {p.field for p in problems}
    # The model's own cross-field validators only run once every field is valid; these checks
    # run on the raw proposal so that every problem is reported in the same round.
    if raw.get("is_webhook_active") is True and "webhook_url" in raw and raw["webhook_url"] is None:
        problems.append(
            builder.problem(
                "webhook_url",
                "conflict",
                WEBHOOK_CONFLICT + "; to turn the webhook off, set is_webhook_active false instead",
                Fix(field="is_webhook_active", value=False),
            )
        )
    if not set(raw) - {"id", "dry_run"}:
        problems.append(builder.problem("", "nothing_to_update", NOTHING_TO_UPDATE, received=dict(raw)))
    if isinstance(raw.get("timezone"), str) and "timezone" not in fields:
        tz_problem = check_timezone(builder, raw["timezone"])
        if tz_problem is not None:
            problems.append(tz_problem)
    if problems:
        return Verdict(None, problems, offered_fix(raw, problems, input_schema) if suggest else None)
    return Verdict(args)


def offered_fix(
    raw: Mapping[str, Any], problems: list[Problem], input_schema: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The proposal with every fix applied, offered only if it then passes the checks itself."""
    suggested = suggested_arguments(raw, problems)
    if suggested is None:
        return None
    again = check_update(suggested, input_schema, suggest=False)
    return suggested if again.ok else None


@functools.cache
def _timezones() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def check_timezone(builder: FeedbackBuilder, value: str) -> Problem | None:
    zones = _timezones()
    if not zones or value in zones.values():
        return None  # without a tz database on this machine, leave the judgement to the API
    key = value.strip().casefold().replace(" ", "_")
    guess = zones.get(key)
    if guess is None:
        by_city = [name for name in zones.values() if name.casefold().rsplit("/", 1)[-1] == key]
        guess = by_city[0] if len(by_city) == 1 else None
    if guess is None:
        close = difflib.get_close_matches(key, list(zones), n=1, cutoff=0.8)
        guess = zones[close[0]] if close else None
    return builder.problem(
        "timezone",
        "unknown_timezone",
        "not an IANA timezone name (Region/City, e.g. Asia/Riyadh)",
        None if guess is None else Fix(field="timezone", value=guess),
    )
