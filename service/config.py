"""The service's settings: the only place that reads the environment (prefix FEEDBACK_STRIKE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.crud import GuardLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEEDBACK_STRIKE_", env_file=None, extra="ignore")

    model_dir: Path | None = Field(default=None, description="serve this model directory, pinned (no pointer "
                                   "watching); default: the version the registry's CURRENT names")
    registry_dir: Path | None = Field(default=None, description="the model registry; default: models/")
    watch_model_pointer: bool = Field(default=True, description="poll the registry's CURRENT and switch models "
                                      "when it changes (false: only POST /v1/admin/model/reload switches)")
    model_poll_seconds: float = Field(default=5.0, gt=0, le=3600, description="how often the pointer is polled")
    api_keys: str = Field(default="", description="comma-separated bootstrap admin keys (held hashed in memory)")
    database_url: str = Field(default="sqlite:///./feedback-strike.db",
                              validation_alias=AliasChoices("DATABASE_URL", "FEEDBACK_STRIKE_DATABASE_URL"),
                              description="SQLAlchemy URL; postgresql://... for several replicas")
    max_batch_items: int = Field(default=1000, ge=1, description="largest POST /v1/verdicts/batch")
    max_body_bytes: int = Field(default=5_000_000, ge=1_000, description="largest request body")
    abuse_window_seconds: int = Field(default=3600, ge=1, description="the abuse guard's sliding window")
    abuse_max_requests: int = Field(default=200, ge=1, description="strike requests per seller and window")
    abuse_max_ineligible_share: float = Field(default=0.5, ge=0, le=1,
                                              description="largest share of plainly ineligible requests")
    abuse_min_requests: int = Field(default=10, ge=1, description="requests before the share limit applies")
    auth_cache_seconds: float = Field(
        default=5, ge=0, le=3600, description="a key verified against the database this recently is not looked up "
        "again; a revocation made outside this process (the keys CLI, another replica) takes effect here within "
        "this bound (0: look up every request)")
    auth_outage_grace_seconds: float = Field(
        default=900, ge=0, description="while the database is down, keys verified this recently still authenticate")
    database_retry_after_seconds: int = Field(default=5, ge=1,
                                              description="Retry-After of the 503 answered while the database is down")

    def guard_limits(self) -> GuardLimits:
        return GuardLimits(self.abuse_window_seconds, self.abuse_max_requests, self.abuse_max_ineligible_share,
                           self.abuse_min_requests)

    def key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())
