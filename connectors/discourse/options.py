"""Options of a `discourse` source."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DiscourseOptions(BaseModel):
    """Options of a `discourse` source beside the common name, acl and `path` (archive) or `url` (API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url_base: str | None = None  # links f"{url_base}/t/{slug}/{id}"; the API mode defaults to `url`
    categories: dict[int, str] = Field(default_factory=dict)  # category_id -> name, for tags and path
    # category_id -> the groups that may read it. Overrides what the API says; an archive carries no
    # permissions, so there these are the only restricted categories.
    restricted_categories: dict[int, list[str]] = Field(default_factory=dict)
    max_file_mb: float = Field(default=5.0, gt=0)  # archive: a bigger post file is refused
    posts_per_request: int = Field(default=20, ge=1, le=200)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0)
    max_retry_after_s: float = Field(default=120.0, gt=0)
    max_pages: int = Field(default=1000, ge=1)
