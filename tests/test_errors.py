"""One fact per failure: what an error means for a change is set on the error, once, and every report
(the tool result, the journal's word, a change-set member) reads it from there."""

from __future__ import annotations

import pytest

from sondos_mcp.errors import (
    AlreadyUndone,
    AssistantBusy,
    ConfigurationError,
    DeadlineExceeded,
    JournalUnavailable,
    SondosError,
    UpstreamError,
    UpstreamUnavailable,
    error_from_response,
)
from sondos_mcp.results import applied_state, error_result

CASES = [
    (error_from_response(422, {"message": "bad", "errors": {"x": ["no"]}}, {}), "not_applied", "refused", False),
    (error_from_response(404, {}, {}), "not_applied", "refused", False),
    (error_from_response(401, {}, {}), "not_applied", "refused", False),
    (error_from_response(429, {}, {"retry-after": "3"}), "not_applied", "refused", False),
    (error_from_response(503, {}, {}), "not_applied", "failed", False),
    (UpstreamUnavailable("reset after sending", outcome="unknown"), "unknown", "unknown", "unknown"),
    (DeadlineExceeded("late", outcome="unknown"), "unknown", "unknown", "unknown"),
    (DeadlineExceeded("late before the write"), "not_applied", "failed", False),
    (ConfigurationError("no key"), "not_applied", "failed", False),
    (JournalUnavailable("gone"), "not_applied", "failed", False),
    (AssistantBusy("busy"), "not_applied", "refused", False),
    (AlreadyUndone("twice"), "not_applied", "refused", False),
]


@pytest.mark.parametrize(("error", "outcome", "recorded", "applied"), CASES)
def test_each_error_carries_one_outcome_that_every_report_reads(
    error: SondosError, outcome: str, recorded: str, applied: object
):
    assert error.outcome == outcome
    assert error.recorded == recorded
    assert applied_state(error, writes=True) == applied
    result = error_result(error, arguments={"id": 12}, input_schema={"properties": {}}, extra={})
    assert result.is_error
    assert result.structured_content is not None
    assert result.structured_content["applied"] == applied
    assert result.structured_content["error"]["kind"] == error.kind
    head = result.content[0].text  # type: ignore[union-attr]
    assert head.startswith("Outcome unknown: " if applied == "unknown" else "Not applied: ")


def test_a_read_reports_no_outcome_for_a_change():
    assert applied_state(UpstreamError("boom", outcome="unknown"), writes=False) is None
