"""The service's settings: the only place that reads the environment (prefix FEEDBACK_STRIKE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_STRIKE_", env_file=None, extra="ignore")

    model_dir: Path | None = Field(default=None, description="model directory; default: the shipped model")
    api_keys: str = Field(default="", description="comma-separated bootstrap admin keys (held hashed in memory)")
    database_url: str = Field(default="sqlite:///./feedback-strike.db",
                              validation_alias=AliasChoices("DATABASE_URL", "FEEDBACK_STRIKE_DATABASE_URL"),
                              description="SQLAlchemy URL; postgresql://... for several replicas")
    max_batch_items: int = Field(default=1000, ge=1, description="largest POST /v1/verdicts/batch")
    max_body_bytes: int = Field(default=5_000_000, ge=1_000, description="largest request body")

    def key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())
