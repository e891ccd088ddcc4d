"""stderr logging with secrets scrubbed: stdout belongs to the protocol over stdio.

Lines are text, or with `SONDOS_LOG_FORMAT=json` one JSON object each, carrying the HTTP
request's id and the current trace's ids, so a log line can be found from a trace and back.
Either way the secrets are scrubbed first: the formatter sees only the scrubbed record.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sondos_mcp.telemetry import REQUEST_ID

if TYPE_CHECKING:
    from sondos_mcp.config import Settings

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replaces every known secret in a record's final message, whatever logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """More secrets to scrub (longest first, so that no part of one is left showing)."""
        self.secrets = sorted({*self.secrets, *(s for s in secrets if len(s) >= 4)}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info:
            # Render the traceback now, scrubbed, so the formatter prints this text instead.
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the request's and trace's ids when known."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        # The API half of OpenTelemetry comes with the MCP SDK; without a tracer provider no span is valid.
        from opentelemetry import trace

        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def redact_loggers(names: Iterable[str], secrets: Iterable[str]) -> None:
    """Scrub these secrets from whatever these loggers log, before any handler (or test capture) sees it.

    A logger's filters apply only to records logged on it, not on its children: name each one."""
    secrets = list(secrets)
    for name in names:
        logger = logging.getLogger(name)
        ours = next((f for f in logger.filters if isinstance(f, RedactSecrets)), None)
        if ours is None:
            logger.addFilter(RedactSecrets(secrets))
        else:
            ours.add(secrets)


def configure_logging(settings: Settings) -> None:
    """Logging for a process that serves requests: the CLI's, and each HTTP worker's (same level, same redaction)."""
    held = (settings.api_key, settings.vault_key, settings.oauth_client_secret)
    secrets = [secret.get_secret_value() for secret in held if secret is not None]
    if settings.journal_url is not None:
        from sondos_mcp.journal_url import DRIVER_LOGGERS, url_secrets

        journal = url_secrets(settings.journal_url.get_secret_value())
        secrets += journal
        redact_loggers(DRIVER_LOGGERS, journal)  # for any handler besides ours, too
    install_handler(settings.log_level, secrets + settings.bearer_tokens(), settings.log_format)


def install_handler(level: str, secrets: Iterable[str] = (), log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request line at INFO; our client logs its own, shorter line.
    logging.getLogger("httpx").setLevel(logging.WARNING)
