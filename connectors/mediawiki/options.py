"""Options of a `mediawiki` source."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MediaWikiOptions(BaseModel):
    """Settings under a `type = "mediawiki"` source beyond `path` / `url`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespaces: list[int] = Field(default_factory=lambda: [0], min_length=1)
    url_base: str | None = None  # page URL = url_base + title (or `$1` in it replaced); else from the wiki
    batch_size: int = Field(default=50, ge=1, le=500)
    max_retries: int = Field(default=4, ge=1, le=20)  # tries in all, the first one included
    backoff_s: float = Field(default=1.0, ge=0.0, le=60.0)
    max_wait_s: float = Field(default=60.0, ge=0.0, le=3600.0)
    maxlag_s: int = Field(default=5, ge=0)
    # Changes are re-read from this long before the cursor: MediaWiki writes a recent-changes row just
    # after the revision commits, so a run starting in between must not lose it. Re-reads are harmless.
    overlap_s: float = Field(default=2.0, ge=0.0)
