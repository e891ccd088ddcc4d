"""Every error the server reports, in one hierarchy, and the one function that maps an upstream answer to them.

`SondosError` and its subclasses are expected failures that become structured tool results
(see `sondos_mcp.results`). Anything else raised inside a tool is a bug and is left to the
SDK's generic handling, never dressed up as the user's mistake.

Each error carries what it means for a change it interrupted (`outcome`: `not_applied` or
`unknown`), decided once, where the error is made; the tool result, a change set's member, an
undo and the journal all read it from here (`recorded` is the journal's word for it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from sondos_mcp.feedback import Problem


Outcome = Literal["not_applied", "unknown"]
"""What a failure means for the change it interrupted: certainly not applied, or perhaps applied."""


class SondosError(Exception):
    """Base of every error reported to the agent as a tool result."""

    kind: ClassVar[str] = "error"
    retryable: ClassVar[bool] = False
    # The journal's word for a change that ended in this error while its outcome is certain.
    journal_word: ClassVar[Literal["refused", "failed"]] = "refused"

    def __init__(self, message: str, *, hint: str | None = None, outcome: Outcome = "not_applied") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.outcome: Outcome = outcome

    @property
    def recorded(self) -> Literal["refused", "failed", "unknown"]:
        """The outcome a journal entry, a change-set member or an undo reports for this failure."""
        return "unknown" if self.outcome == "unknown" else self.journal_word


class ConfigurationError(SondosError):
    """The server is missing something it needs, such as the API key."""

    kind = "configuration"
    journal_word = "failed"


class JournalError(SondosError):
    """The journal cannot be opened or written (a bad path, a newer schema, a database down)."""

    kind = "journal_unavailable"
    journal_word = "failed"


class JournalSettingError(JournalError):
    """The journal's setting cannot work; `reason` says why without repeating a secret."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{reason} ({setting})")
        self.setting = setting
        self.reason = reason

    @property
    def line(self) -> str:
        """The start-up line: the variable, then why."""
        return f"{self.setting}: {self.reason}"


class JournalUnavailable(JournalError):
    """The change could not be journaled (or the journal is gone), so it was not sent."""


class PolicyError(SondosError):
    """The policy file cannot be used; the message names the file's line."""

    kind = "policy_file"


class DeclinedByUser(SondosError):
    """The person declined or cancelled the change; nothing was sent."""

    kind = "declined_by_user"


class ConfirmationRequired(SondosError):
    """Policy wants the person to confirm, and this client cannot ask them."""

    kind = "confirmation_required"


class InsufficientScope(SondosError):
    """The caller's access token lacks the scope this tool needs (a change needs `sondos:write`)."""

    kind = "insufficient_scope"

    def __init__(self, message: str, *, scope: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.scope = scope


class KeyRequired(SondosError):
    """A signed-in person has no Sondos key on file; `url` is where they enrol one."""

    kind = "key_required"

    def __init__(self, message: str, *, url: str | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


class AssistantBusy(SondosError):
    """Another change to the same assistant held it for longer than a change may wait."""

    kind = "assistant_busy"
    retryable = True


class AlreadyUndone(SondosError):
    """The change was undone already (or is being undone right now); an undo runs once."""

    kind = "already_undone"


class InvalidArguments(SondosError):
    """The arguments break the contract (or name things the account does not have); nothing was sent."""

    kind = "invalid_arguments"

    def __init__(self, problems: list[Problem], suggested: dict[str, Any] | None = None) -> None:
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the arguments; nothing was sent")
        self.problems = problems
        self.suggested = suggested


class UpstreamError(SondosError):
    """The Sondos API answered with a failure, or could not be reached."""

    kind = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
        outcome: Outcome = "not_applied",
    ) -> None:
        # `unknown` when a write may have reached the API before this failure: the agent must then
        # read the assistant back rather than assume either way.
        super().__init__(message, hint=hint, outcome=outcome)
        self.status = status
        self.retry_after = retry_after


class UpstreamNotFound(UpstreamError):
    kind = "not_found"


class UpstreamAuthError(UpstreamError):
    kind = "unauthorized"


class UpstreamRateLimited(UpstreamError):
    kind = "rate_limited"
    retryable = True


class UpstreamValidationError(UpstreamError):
    """422: the API refused fields; `field_errors` maps each field to its messages."""

    kind = "upstream_validation"

    def __init__(self, message: str, field_errors: Mapping[str, list[str]], *, status: int = 422) -> None:
        super().__init__(message, status=status)
        self.field_errors = dict(field_errors)


class UpstreamUnavailable(UpstreamError):
    """5xx, timeouts, refused connections, bodies that are not JSON: worth another try later."""

    kind = "upstream_unavailable"
    retryable = True
    journal_word = "failed"


MAX_RETRY_AFTER = 86400.0
"""A Retry-After beyond a day (or inf, NaN) is not advice an agent can follow; it is dropped."""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare for Laravel, and the agent is told to wait anyway
    return max(0.0, seconds) if math.isfinite(seconds) and seconds <= MAX_RETRY_AFTER else None


def _message(body: Any, default: str) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("message"), str) and body["message"].strip():
        return body["message"].strip()[:300]
    return default


def error_from_response(
    status: int, body: Any, headers: Mapping[str, str], *, resource: str = "resource"
) -> UpstreamError:
    """Map a non-2xx answer of the Sondos API to the error the agent is shown."""
    if status == 404:
        return UpstreamNotFound(
            _message(body, f"{resource} not found"),
            status=status,
            hint="The id does not exist or belongs to another account; list_assistants shows the valid ids.",
        )
    if status in (401, 403):
        return UpstreamAuthError(
            "The Sondos API refused the API key" + (" (forbidden)" if status == 403 else ""),
            status=status,
            hint="Check SONDOS_API_KEY in the MCP client's configuration; it is missing, revoked or mistyped.",
        )
    if status == 429:
        retry_after = _retry_after(headers)
        wait = f"after {retry_after:g} s" if retry_after is not None else "in a little while"
        return UpstreamRateLimited(
            "The Sondos API is rate limiting this key",
            status=status,
            retry_after=retry_after,
            hint=f"Nothing was changed; try again {wait}.",
        )
    if status == 422:
        errors = body.get("errors") if isinstance(body, Mapping) else None
        field_errors = {
            str(field): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for field, msgs in (errors.items() if isinstance(errors, Mapping) else [])
        }
        return UpstreamValidationError(_message(body, "Validation failed"), field_errors)
    if status >= 500:
        return UpstreamUnavailable(
            _message(body, "The Sondos API failed"),
            status=status,
            hint="A server-side failure; the same call may succeed later.",
        )
    return UpstreamError(_message(body, f"The Sondos API answered HTTP {status}"), status=status)


class UpstreamTimeout(UpstreamUnavailable):
    """One upstream request got no answer in time; for a write, the change may have been applied."""

    kind = "upstream_timeout"


class UpstreamTooLarge(UpstreamError):
    """The answer was larger than the configured cap; it was refused without being read to the end."""

    kind = "upstream_too_large"


class DeadlineExceeded(UpstreamTimeout):
    """The whole tool call ran past its deadline (retries, paging and lookups included)."""

    kind = "timeout"


class PagingLimit(UpstreamError):
    """Walking the assistants list would take more pages than one call may fetch."""

    kind = "too_many_pages"


READ_BACK_HINT = (
    "The change may or may not have been applied: read the assistant back with get_assistant before retrying."
)
