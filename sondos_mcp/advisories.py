"""Settings that may not fit together: advice beside the contract, never a refusal.

Each rule is triggered by fields a change sets and reads the assistant as it would be after the
change: the change's own values over what the assistant holds now, where that is known (from the
API's list or this journal). A value nobody knows gives no advice: a rule only speaks when it can
tell. The domain asks only for the fields the triggered rules read (`needed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sondos_mcp.feedback import Notice

_UNKNOWN = object()


@dataclass(frozen=True)
class After:
    """The assistant as the change would leave it, as far as is known."""

    change: Mapping[str, Any]
    current: Mapping[str, Any]  # field -> value now, for the fields that are known
    status: str | None = None
    voices: Sequence[Mapping[str, Any]] = ()

    def get(self, name: str) -> Any:
        """The field's value after the change, or `_UNKNOWN`."""
        if name in self.change:
            return self.change[name]
        return self.current.get(name, _UNKNOWN)

    def is_(self, name: str, value: Any) -> bool:
        """Known to be `value` after the change (unknown is never)."""
        return self.get(name) is not _UNKNOWN and self.get(name) == value


@dataclass(frozen=True)
class Rule:
    code: str
    triggers: tuple[str, ...]  # the rule is looked at when the change sets one of these
    reads: tuple[str, ...]  # and reads these besides
    applies: Callable[[After], bool]
    message: Callable[[After], str]
    # Looked at for every change (not only when a trigger is set).
    always: bool = False


def _voice_languages(after: After) -> list[str] | None:
    voice = after.get("voice_id")
    listed = next((v for v in after.voices if v.get("id") == voice), None)
    languages = listed.get("languages") if listed is not None else None
    return [str(x) for x in languages] if isinstance(languages, list) else None


def _webhook_off(after: After) -> bool:
    return after.is_("is_webhook_active", False) or after.is_("webhook_url", None)


def _set_true(after: After, *names: str) -> list[str]:
    return [n for n in names if after.change.get(n) is True]


RULES: tuple[Rule, ...] = (
    Rule(
        "webhook_off",
        ("send_webhook_only_on_completed", "include_recording_in_webhook"),
        ("is_webhook_active", "webhook_url"),
        lambda a: (
            bool(_set_true(a, "send_webhook_only_on_completed", "include_recording_in_webhook")) and _webhook_off(a)
        ),
        lambda a: (
            f"{' and '.join(_set_true(a, 'send_webhook_only_on_completed', 'include_recording_in_webhook'))} "
            "only matter with an active webhook, and this assistant's webhook is off or has no URL"
        ),
    ),
    Rule(
        "post_call_evaluation_off",
        ("post_call_schema",),
        ("post_call_evaluation",),
        lambda a: bool(a.change.get("post_call_schema")) and a.is_("post_call_evaluation", False),
        lambda a: "post_call_schema fields are extracted only when post_call_evaluation is on, and it is off",
    ),
    Rule(
        "min_interrupt_words_unused",
        ("min_interrupt_words",),
        ("use_min_interrupt_words",),
        lambda a: a.is_("use_min_interrupt_words", False),
        lambda a: "min_interrupt_words applies only when use_min_interrupt_words is on, and it is off",
    ),
    Rule(
        "voice_language",
        ("language", "voice_id"),
        ("voice_id", "language"),
        lambda a: (
            (langs := _voice_languages(a)) is not None
            and a.get("language") is not _UNKNOWN
            and a.get("language") not in langs
        ),
        lambda a: (
            f"voice {a.get('voice_id')} lists {', '.join(_voice_languages(a) or [])}, "
            f"not {a.get('language')}; it may not speak it"
        ),
    ),
    Rule(
        "silence_beyond_call",
        ("max_silence_duration", "max_call_duration"),
        ("max_silence_duration", "max_call_duration"),
        lambda a: (
            isinstance(a.get("max_silence_duration"), int)
            and isinstance(a.get("max_call_duration"), int)
            and a.get("max_silence_duration") > a.get("max_call_duration")
        ),
        lambda a: (
            f"max_silence_duration ({a.get('max_silence_duration')} s) is longer than max_call_duration "
            f"({a.get('max_call_duration')} s): the call ends first"
        ),
    ),
    Rule(
        "inactive_assistant",
        (),
        (),
        lambda a: a.status == "inactive",
        lambda a: "this assistant is inactive: the change takes effect only once it is activated",
        always=True,
    ),
)


def triggered(change: Mapping[str, Any]) -> list[Rule]:
    return [r for r in RULES if r.always or any(t in change for t in r.triggers)]


def needed(change: Mapping[str, Any]) -> list[str]:
    """The fields whose current values the triggered rules read (and the change does not set)."""
    names = {n for r in triggered(change) for n in r.reads}
    return sorted(n for n in names if n not in change)


def advise(after: After) -> list[Notice]:
    """Every triggered rule that applies, as a warning naming its fields."""
    out = []
    for rule in triggered(after.change):
        if rule.applies(after):
            fields = [f for f in (*rule.triggers, *rule.reads) if f in after.change] or list(rule.triggers)
            out.append(Notice(code=rule.code, fields=list(dict.fromkeys(fields)), message=rule.message(after)))
    return out
