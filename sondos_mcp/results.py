"""Tool results: the shared outcome shape, and the one place that turns any error into a result."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, JsonValue

from sondos_mcp.bounds import escape_text
from sondos_mcp.errors import (
    InsufficientScope,
    InvalidArguments,
    KeyRequired,
    SondosError,
    UpstreamError,
    UpstreamNotFound,
    UpstreamValidationError,
)
from sondos_mcp.feedback import FeedbackBuilder, Notice, Problem, render_problems

# Output fields default to None and are left out of the result when unset (never sent as null);
# `schema.model_schema(shallow=True)` declares their plain type accordingly.


class ErrorInfo(BaseModel):
    kind: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    hint: str | None = None


class Outcome(BaseModel):
    """Fields every tool's structured result carries; each tool's output model extends it."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    message: str
    error: ErrorInfo | None = None
    problems: list[Problem] | None = None
    suggested_arguments: dict[str, JsonValue] | None = None
    warnings: list[Notice] | None = None


def success(outcome: Outcome, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(text=text)],
        structured_content=outcome.model_dump(mode="json", exclude_none=True),
        is_error=False,
    )


def refusal(outcome: Outcome, text: str) -> CallToolResult:
    """A refusal that carries a per-item report (a change set, an undo): isError with the tool's own shape."""
    return CallToolResult(
        content=[TextContent(text=text)],
        structured_content=outcome.model_dump(mode="json", exclude_none=True),
        is_error=True,
    )


def error_result(
    exc: SondosError,
    *,
    arguments: Mapping[str, Any],
    input_schema: Mapping[str, Any],
    extra: Mapping[str, Any],
    writes: bool = True,
    max_problems: int = 25,
) -> CallToolResult:
    """The tool result for any expected failure: `isError`, structured problems, a few plain lines."""
    problems: list[Problem] = []
    suggested: dict[str, Any] | None = None
    if isinstance(exc, InvalidArguments):
        problems, suggested = exc.problems, exc.suggested
    elif isinstance(exc, UpstreamValidationError):
        builder = FeedbackBuilder(input_schema, arguments)
        problems = [
            builder.problem(field, "rejected_by_api", "; ".join(messages))
            for field, messages in exc.field_errors.items()
        ]
    info = ErrorInfo(
        kind=exc.kind,
        retryable=exc.retryable,
        status=exc.status if isinstance(exc, UpstreamError) else None,
        retry_after=exc.retry_after if isinstance(exc, UpstreamError) else None,
        hint=exc.hint,
    )
    applied = applied_state(exc, writes)
    structured: dict[str, Any] = {
        "ok": False,
        "message": exc.message,
        **extra,
        **({"applied": applied} if applied is not None else {}),
        "error": info.model_dump(mode="json", exclude_none=True),
    }
    if isinstance(exc, KeyRequired) and exc.url is not None:
        structured["enrol_url"] = exc.url
    if isinstance(exc, InsufficientScope):
        structured["required_scope"] = exc.scope
    summary = summarise(problems[max_problems:])
    shown = problems[:max_problems]
    if shown:
        structured["problems"] = [p.model_dump(mode="json", exclude_none=True) for p in shown]
    if summary:
        structured["warnings"] = [Notice(code="more_problems", message=summary).model_dump(mode="json")]
    if suggested is not None:
        structured["suggested_arguments"] = suggested
    prefix = {False: "Not applied: ", "unknown": "Outcome unknown: "}.get(applied, "") if applied is not None else ""
    lines = [f"{prefix}{exc.message}".rstrip(".") + "."]
    lines += render_problems(shown)
    if summary:
        lines.append(summary)
    if suggested is not None:
        lines.append("All problems have fixes; suggested_arguments: " + json.dumps(suggested, ensure_ascii=False))
    if exc.hint:
        lines.append(exc.hint)
    return CallToolResult(content=[TextContent(text="\n".join(lines))], structured_content=structured, is_error=True)


def rpc_error(exc: SondosError, **data: Any) -> MCPError:
    """A failure outside a tool call (resources/read, prompts/get, completion/complete) as a JSON-RPC
    error: invalid params for what the request names wrongly or what does not exist (the code the
    specification gives a resource not found), internal error for the rest (the API or the journal
    unreachable, the key refused); `data` says which kind, and whether to retry."""
    if isinstance(exc, InvalidArguments):
        message = "; ".join(f"{p.field}: {p.message}" for p in exc.problems) or exc.message
    else:
        message = exc.message
    info = ErrorInfo(kind=exc.kind, retryable=exc.retryable, hint=exc.hint).model_dump(mode="json", exclude_none=True)
    if isinstance(exc, KeyRequired) and exc.url is not None:
        info["enrol_url"] = exc.url
    if isinstance(exc, InsufficientScope):
        info["required_scope"] = exc.scope
    code = INVALID_PARAMS if isinstance(exc, InvalidArguments | UpstreamNotFound) else INTERNAL_ERROR
    return MCPError(code=code, message=escape_text(message), data={**info, **data})


def applied_state(exc: SondosError, writes: bool) -> bool | Literal["unknown"] | None:
    """What a failed call says about its change: not applied, unknown, or nothing (a read changes nothing).

    Unknown whenever the write may have reached the API before the failure (a timeout, a reset
    after sending, a 200 that could not be read): saying "not applied" there would invite a blind retry.
    """
    if not writes:
        return None
    return "unknown" if exc.outcome == "unknown" else False


def summarise(rest: list[Problem]) -> str | None:
    """One line for the problems beyond the listed ones: how many, of which kinds."""
    if not rest:
        return None
    codes = Counter(p.code for p in rest).most_common(5)
    kinds = ", ".join(f"{code} ×{count}" for code, count in codes)
    fields = ", ".join(dict.fromkeys(p.field for p in rest[:5]))
    return f"{len(rest)} more problem(s) not listed ({kinds}; e.g. {fields}). Fix the listed ones, then call again."
