"""Configuration, read once at start-up (environment, then command-line flags) and injected."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URL = "https://app.sondos-ai.com/api"


class Settings(BaseSettings):
    """Everything the server needs to know; `SONDOS_*` environment variables fill it."""

    model_config = SettingsConfigDict(env_prefix="SONDOS_", extra="ignore", frozen=True)

    api_key: SecretStr | None = Field(None, description="Sondos API key (Bearer token)")
    base_url: str = Field(DEFAULT_BASE_URL, description="Base URL of the Sondos REST API")
    timeout: float = Field(15.0, gt=0, le=300, description="Seconds to wait for one upstream answer")
    connect_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for a connection")
    retries: int = Field(2, ge=0, le=5, description="Extra attempts for a failed connection or idempotent read")
    log_level: str = Field("WARNING", description="stderr log level")

    @property
    def api_base(self) -> str:
        return self.base_url.rstrip("/")
