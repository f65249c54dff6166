"""Settings: the only place the environment is read (prefix WHOKNOWS_), passed down as one object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The process environment every WhoKnows program runs with (set where unset). The model ships in a
# package and is loaded from disk, never from a hub. torch and faiss each bring an OpenMP runtime whose
# idle threads spin; with both spinning, a dense query on 2 cores took 20x longer. The libraries read
# these when they load, so `service/__init__.py` applies them before any of them is imported. Haystack
# (the `haystack` extra) reports usage to its vendor unless told not to, when it is imported.
OFFLINE_ENVIRONMENT = {
    "HAYSTACK_TELEMETRY_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
}


def apply_offline_environment() -> None:
    """Set the OFFLINE_ENVIRONMENT defaults; a value the caller set explicitly wins."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


class Settings(BaseSettings):
    """Every knob of a WhoKnows install. `--home` on the command line overrides WHOKNOWS_HOME."""

    model_config = SettingsConfigDict(
        env_prefix="WHOKNOWS_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    home: Path = Path(".whoknows")
    # Where the reindex job publishes snapshots and the service serves them from. Point every replica
    # and the job at one shared folder (a volume, NFS) to scale out: a snapshot holds everything a
    # replica needs (vectors, keyword index, and its own copy of the store), so replicas need no home.
    snapshots_dir: Path | None = None
    # Identity. Anonymous callers (no token, no trusted proxy headers) are refused unless this is on; when
    # on, they see public documents only, and people only through their public work (README, "Access").
    anonymous: bool = False
    trusted_proxies: list[str] = Field(default_factory=list)
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    # Proxy-authenticated users in one of these groups also get the admin scope (/admin/*, /metrics).
    admin_groups: list[str] = Field(default_factory=lambda: ["whoknows-admins"])
    # /metrics without the admin scope (its index totals count restricted documents too).
    metrics_public: bool = False
    # Service limits
    max_query_chars: int = 2000
    rate_limit_per_minute: int = 600  # per user, token or address; 0 turns the limit off
    # Buckets shared by every replica through the state store; None: shared when it is PostgreSQL.
    rate_limit_shared: bool | None = None
    max_body_bytes: int = 64 * 1024
    stale_after_hours: float = 36.0
    # Shared state (tokens, rate buckets, run reports): postgresql://USER:PASSWORD@HOST:PORT/DB for every
    # replica alike, sqlite:///PATH, or unset for <home>/state.db.
    database_url: SecretStr | None = None
    database_pool_size: int = Field(default=10, ge=1)
    # Embedding: the runtime ("onnx-int8": about twice torch's throughput and ~2 ms a query; "torch"),
    # recorded in every snapshot's manifest, and where the ONNX export of the bundled model is kept
    # (made once per machine from the package's weights, never downloaded).
    embed_backend: Literal["onnx-int8", "torch"] = "onnx-int8"
    model_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "whoknows" / "models")
    embed_threads: int | None = None
    # Where ingest embeds: "local" (this process) or "ray" (a Ray cluster, `pip install whoknows[ray]`).
    executor: str = "local"
    ray_address: str | None = None  # HOST:PORT of the head, or "auto"; unset: Ray's own default
    ray_workers: int = Field(default=2, ge=1)  # embedding actors, each loading the model once
    ray_batch_size: int = Field(default=64, ge=1)  # passages per Ray batch (each one cached as it lands)
    ray_window_documents: int = Field(default=2048, ge=1)  # changed documents handed to Ray at a time
    # 16 beats 64 by ~12% on 2 cores (less padding per batch): 25.0 vs 21.6 passages/s of ~215 tokens
    embed_batch_size: int = 16
    # Connectors: credentials per source, e.g. WHOKNOWS_SOURCE_SECRETS='{"wiki.password": "..."}'
    source_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    connector_timeout_s: float = 30.0
    # Generative answers (optional): any OpenAI-compatible chat endpoint
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = 30.0
    # Scheduling
    reindex_config: Path | None = None
    # Operations: `json` writes one JSON object per log line (service/ops/logs.py)
    log_format: Literal["text", "json"] = "text"
    # OpenTelemetry traces go to this OTLP/HTTP endpoint when set (the standard variable; the
    # `otel` extra must be installed); unset, nothing is traced.
    otel_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_endpoint")
    )
    otel_service_name: str = Field(
        default="whoknows", validation_alias=AliasChoices("OTEL_SERVICE_NAME", "otel_service_name")
    )
    # `whoknows mcp` (stdio): the API token the assistant acts with; unset means anonymous
    mcp_token: SecretStr | None = None
    # Mentoring requests and their answers are POSTed here as JSON (service/notify.py), signed with
    # HMAC-SHA256 of the body when a secret is set; unset, requests are only recorded.
    mentoring_webhook_url: str | None = None
    mentoring_webhook_secret: SecretStr | None = None
    mentoring_webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("mentoring_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        return value.strip()

    @property
    def db_path(self) -> Path:
        return self.home / "whoknows.db"

    @property
    def state_path(self) -> Path:
        """The SQLite state file used when `database_url` is unset."""
        return self.home / "state.db"

    @property
    def snapshots_path(self) -> Path:
        """Where snapshots are published and served from (`snapshots_dir`, default `<home>/snapshots`)."""
        return self.snapshots_dir or self.home / "snapshots"

    @property
    def cache_path(self) -> Path:
        return self.home / "cache" / "embeddings.sqlite"


def load_settings(home: Path | None = None) -> Settings:
    """Settings from the environment, with an explicit home folder taking precedence."""
    settings = Settings()
    if home is not None:
        settings = settings.model_copy(update={"home": home})
    return settings
