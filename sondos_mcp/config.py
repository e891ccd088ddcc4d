"""Configuration, read once at start-up (environment, then command-line flags) and injected."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_BASE_URL = "https://app.sondos-ai.com/api"


_TOKEN_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_.@-]{0,63}):(.+)$")


def token_fingerprint(token: str) -> str:
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _named(entry: str) -> tuple[str, str]:
    match = _TOKEN_NAME.match(entry)
    return (match[1], match[2].strip()) if match else (token_fingerprint(entry), entry)


class Settings(BaseSettings):
    """Everything the server needs to know; `SONDOS_*` environment variables fill it."""

    model_config = SettingsConfigDict(env_prefix="SONDOS_", extra="ignore", frozen=True)

    api_key: SecretStr | None = Field(None, description="Sondos API key (Bearer token)")
    base_url: str = Field(DEFAULT_BASE_URL, description="Base URL of the Sondos REST API")
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds to wait for one upstream answer")
    connect_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for a connection")
    retries: int = Field(2, ge=0, le=5, description="Extra attempts for a failed connection or idempotent read")
    log_level: str = Field("WARNING", description="stderr log level")

    # Streamable HTTP (`--transport http`). Comma-separated lists in the environment.
    host: str = Field("127.0.0.1", description="Address to bind; loopback unless told otherwise")
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64, description="Worker processes (stateless, so any worker serves any call)")
    http_auth: Literal["auto", "none", "shared", "per_user"] = Field(
        "auto", description="auto: shared if tokens are configured, else none (loopback only)"
    )
    http_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer tokens callers must present (shared-key mode)"
    )
    http_tokens_file: Path | None = Field(None, description="File with one bearer token per line")
    http_key_header: str = Field("X-Sondos-Api-Key", description="Header carrying each caller's key (per_user)")
    http_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    http_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    http_max_body: int = Field(256 * 1024, ge=1024, description="Largest request body accepted, in bytes")

    # Change journal, policy, confirmation (see docs/journal.md).
    journal: str = Field("default", description="SQLite journal file; 'default': the user's data dir; 'off'")
    journal_url: SecretStr | None = Field(None, description="postgresql://… journal instead (sondos-mcp[postgres])")
    journal_pending_after: float = Field(120.0, gt=0, description="Seconds after which a pending entry is unknown")
    policy: Path | None = Field(None, description="TOML policy file: limits on what may be changed")

    @field_validator("http_tokens", "http_allowed_hosts", "http_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

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
    def auth_mode(self) -> Literal["none", "shared", "per_user"]:
        if self.http_auth != "auto":
            return self.http_auth
        return "shared" if (self.http_tokens or self.http_tokens_file) else "none"

    @property
    def api_base(self) -> str:
        return self.base_url.rstrip("/")
