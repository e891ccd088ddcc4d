"""Configuration, read once at start-up (environment, then command-line flags) and injected.

Every bad setting is refused here, before anything is served: `setting_errors` turns the
refusal into one line per setting that names the environment variable (and flag) to change.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_BASE_URL = "https://app.sondos-ai.com/api"
ENV_PREFIX = "SONDOS_"
# Never echoed back in an error message, whatever is wrong with them.
SECRET_FIELDS = frozenset({"api_key", "http_tokens", "journal_url", "vault_key", "oauth_client_secret"})


_TOKEN_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_.@-]{0,63}):(.+)$")


def token_fingerprint(token: str) -> str:
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _named(entry: str) -> tuple[str, str]:
    match = _TOKEN_NAME.match(entry)
    return (match[1], match[2].strip()) if match else (token_fingerprint(entry), entry)


class Settings(BaseSettings):
    """Everything the server needs to know; `SONDOS_*` environment variables fill it."""

    # An empty variable (`SONDOS_API_KEY=`, or a client's blank field) means unset, as people expect;
    # hide_input_in_errors: a refusal printed whole (a worker's traceback) never shows a secret's value.
    model_config = SettingsConfigDict(
        env_prefix="SONDOS_", extra="ignore", frozen=True, env_ignore_empty=True, hide_input_in_errors=True
    )

    api_key: SecretStr | None = Field(None, description="Sondos API key (Bearer token)")
    base_url: str = Field(DEFAULT_BASE_URL, description="Base URL of the Sondos REST API")
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds to wait for one upstream answer")
    connect_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for a connection")
    retries: int = Field(2, ge=0, le=5, description="Extra attempts for a failed connection or idempotent read")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "WARNING", description="stderr log level"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="stderr log lines: text, or one JSON object per line (with request and trace ids)"
    )
    sandbox: bool = Field(False, description="Serve against the built-in sandbox API with demo data; no key needed")

    # Streamable HTTP (`--transport http`). Comma-separated lists in the environment.
    host: str = Field("127.0.0.1", description="Address to bind; loopback unless told otherwise")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port")
    workers: int = Field(1, ge=1, le=64, description="Worker processes (stateless, so any worker serves any call)")
    http_auth: Literal["auto", "none", "shared", "per_user", "oauth"] = Field(
        "auto", description="auto: shared if tokens are configured, else none (loopback only)"
    )
    http_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer tokens callers must present (shared-key mode)"
    )
    http_tokens_file: Path | None = Field(None, description="File with one bearer token per line")
    http_key_header: str = Field("X-Sondos-Api-Key", description="Header carrying each caller's key (per_user)")
    http_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Host names clients use, checked against each request's Host; '*': any"
    )
    http_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Browser origins allowed besides loopback"
    )
    http_max_body: int = Field(256 * 1024, ge=1024, description="Largest request body accepted, in bytes")

    # OAuth 2.1 sign-in (`SONDOS_HTTP_AUTH=oauth`, the `oauth` extra; see docs/deployment.md).
    oauth_issuer: str | None = Field(None, description="The authorization server's issuer URL")
    public_url: str | None = Field(None, description="This server's public base URL; the resource is it + /mcp")
    oauth_introspection_url: str | None = Field(None, description="RFC 7662 endpoint for opaque access tokens")
    oauth_client_id: str | None = Field(None, description="Client id this server introspects with")
    oauth_client_secret: SecretStr | None = Field(None, description="Client secret this server introspects with")
    oauth_groups_claim: str = Field("groups", min_length=1, description="Token claim listing the person's groups")
    vault_key: SecretStr | None = Field(None, description="32 random bytes, URL-safe base64: seals enrolled keys")

    # Change journal, policy, confirmation (see docs/journal.md).
    journal: str = Field("default", description="SQLite journal file; 'default': the user's data dir; 'off'")
    journal_url: SecretStr | None = Field(None, description="postgresql://… journal instead (sondos-mcp[postgres])")
    journal_pending_after: float = Field(120.0, gt=0, description="Seconds after which a pending entry is unknown")
    journal_retention_days: float | None = Field(
        365, gt=0, le=36500, description="Journal entries older than this many days are pruned"
    )
    policy: Path | None = Field(None, description="TOML policy file: limits on what may be changed")

    # Bounds under a hostile upstream or client (docs/reliability.md explains each one).
    call_deadline: float | None = Field(
        None, gt=0, le=600, description="Seconds one tool call may take in all (retries, paging, lookups); timeout + 5"
    )
    max_pages: int = Field(20, ge=1, le=1000, description="Pages of assistants one call walks at most")
    max_response_bytes: int = Field(8 * 1024 * 1024, ge=4096, description="Largest upstream body read, in bytes")
    max_result_bytes: int = Field(256 * 1024, ge=8192, description="Largest tool result (JSON + text), in bytes")
    max_problems: int = Field(25, ge=1, le=1000, description="Problems listed one by one; the rest are summarised")
    max_argument_values: int = Field(1000, ge=50, description="Values (keys and items, nested) a call's arguments hold")
    max_argument_depth: int = Field(8, ge=3, le=64, description="Nesting depth of a call's arguments")
    cache_entries: int = Field(1024, ge=16, description="Lookup cache entries kept at most")
    http_header_timeout: float = Field(10.0, gt=0, le=300, description="Seconds a client has to send a request")
    http_max_connections: int = Field(2048, ge=1, description="Open HTTP connections per worker; more are closed")

    # Metrics over HTTP (docs/deployment.md, "Metrics, traces and logs"); traces follow OTEL_* variables.
    metrics: bool = Field(False, description="Serve Prometheus metrics at /metrics (needs sondos-mcp[observability])")
    metrics_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks that may read /metrics without authentication (e.g. 127.0.0.1,10.0.0.0/8)",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an absolute http(s) URL such as {DEFAULT_BASE_URL}")
        if _carries_credentials(value):
            # httpx would send it as Basic authentication in place of the API key, and it would be
            # shown wherever the URL is (a connection error's message, a log line).
            raise ValueError("must not carry a user or password: the API key goes in SONDOS_API_KEY")
        return value.strip()

    @field_validator("journal_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        """Only a PostgreSQL URL with a host; empty means unset. The message never repeats the URL."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str):
            return value
        if not text.strip():
            return None
        from sondos_mcp.journal_url import url_problem

        problem = url_problem(text.strip())
        if problem is not None:
            raise ValueError(problem)
        return SecretStr(text.strip())

    @field_validator("oauth_issuer", "public_url", "oauth_introspection_url")
    @classmethod
    def _https_unless_loopback(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute https:// URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("must be https:// (http:// only on loopback: 127.0.0.1, ::1, localhost)")
        return value

    @field_validator("public_url")
    @classmethod
    def _origin_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.path.strip("/") or parts.query or parts.fragment:
            # The metadata's well-known paths and /enrol/ are served at the root of this server.
            raise ValueError("must be the server's origin alone, such as https://mcp.example.com (no path)")
        return value.rstrip("/")

    @field_validator("vault_key")
    @classmethod
    def _vault_key_form(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and vault_key_bytes(value.get_secret_value()) is None:
            raise ValueError(
                "must be 32 random bytes in URL-safe base64 (44 characters, the last one '='), such as "
                """python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' prints"""
            )
        return value

    @model_validator(mode="after")
    def _tokens_file_readable(self) -> Settings:
        if self.http_tokens_file is not None:
            try:
                self.http_tokens_file.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                raise ValueError(f"http_tokens_file: cannot read {self.http_tokens_file} ({reason})") from None
        return self

    @field_validator("http_tokens", "http_allowed_hosts", "http_allowed_origins", "metrics_allow", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (such as 127.0.0.1 or 10.0.0.0/8)"
                ) from None
        return value

    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.metrics_allow]

    def bearer_tokens(self) -> list[str]:
        """Configured tokens from the environment and the tokens file, read once at start-up."""
        return [token for _, token in self.named_tokens()]

    def named_tokens(self) -> list[tuple[str, str]]:
        """(name, token) pairs: `name:token` entries are named, a plain token is named by its fingerprint."""
        entries = [t.get_secret_value() for t in self.http_tokens]
        if self.http_tokens_file is not None:
            lines = self.http_tokens_file.read_text("utf-8").splitlines()
            entries += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return [_named(entry) for entry in entries]

    @property
    def resource_url(self) -> str:
        """The protected resource's identifier (RFC 8707/9728): the public URL and /mcp."""
        return f"{self.public_url}/mcp"

    @property
    def auth_mode(self) -> Literal["none", "shared", "per_user", "oauth"]:
        if self.http_auth != "auto":
            return self.http_auth
        return "shared" if (self.http_tokens or self.http_tokens_file) else "none"

    @property
    def deadline(self) -> float:
        """The whole-call deadline: a little above one request's timeout unless set."""
        return self.call_deadline if self.call_deadline is not None else self.timeout + 5.0

    @property
    def api_base(self) -> str:
        return self.base_url.rstrip("/")


_VAULT_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=$")


def vault_key_bytes(text: str) -> bytes | None:
    """The vault key's 32 bytes, or None unless `text` is exactly their canonical URL-safe base64."""
    if not _VAULT_KEY.match(text):
        return None
    raw = base64.urlsafe_b64decode(text)
    # Canonical only: a last character with stray low bits decodes to the same bytes but is another string.
    return raw if len(raw) == 32 and base64.urlsafe_b64encode(raw).decode() == text else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _accepted(field: str) -> str:
    """What a setting accepts, read from its declaration so the message cannot drift from the check."""
    info = Settings.model_fields[field]
    choices = getattr(info.annotation, "__args__", None)
    if choices and all(isinstance(c, str) for c in choices):
        return "one of " + ", ".join(choices)
    if info.annotation not in (int, float):
        return ""
    bounds = []
    for meta in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{sign} {getattr(meta, attr)}")
    kind = "an integer" if info.annotation is int else "a number"
    return " ".join([kind, " and ".join(bounds)]).strip()


_SHAPE_ERRORS = ("literal_error", "greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _carries_credentials(url: str) -> bool:
    """A URL with a user (and perhaps a password) in it: never used, never shown back."""
    return "@" in urlsplit(url.strip()).netloc


def setting_errors(exc: ValidationError, flags: dict[str, str] | None = None) -> list[str]:
    """One line per refused setting, naming its environment variable (and flag, if it came from one)."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        message = str(err["msg"]).removeprefix("Value error, ")
        if not field and ":" in message:
            field, message = (part.strip() for part in message.split(":", 1))
        known = field in Settings.model_fields
        name = env_name(field) if known else field
        if flags and field in flags:
            name = f"{flags[field]} ({name})"
        accepted = _accepted(field) if known else ""
        if accepted and (err["type"] in _SHAPE_ERRORS or err["type"].endswith(("_parsing", "_type"))):
            message = f"must be {accepted}"
        value = err.get("input")
        secret = field in SECRET_FIELDS or (isinstance(value, str) and _carries_credentials(value))
        shown = f" (got {value!r})" if isinstance(value, str | int | float) and not secret else ""
        lines.append(f"{name}: {message}{shown}")
    return lines


def describe(field: str) -> str:
    """`--help` text for a setting: its meaning, environment variable and default."""
    info = Settings.model_fields[field]
    default: Any = info.default if info.default_factory is None else None
    shown = "" if default in (None, []) else f", default {default}"
    return f"{info.description or field} (env {env_name(field)}{shown})"


def environment_has(field: str) -> bool:
    return env_name(field) in os.environ
