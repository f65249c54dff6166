"""Options of a `confluence` source."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class ConfluenceOptions(BaseModel):
    """Options of a `confluence` source beside the common name, acl and `path` (export) or `url` (REST)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Page links: export mode url_base + file name (else a file:// URL); API mode url_base + `_links.webui`
    # (url_base defaults to `url`, which includes the context path such as /wiki).
    url_base: str | None = None
    space: str | None = Field(default=None, validation_alias=AliasChoices("space", "space_key"))
    page_size: int = Field(default=50, ge=1, le=250)
    max_retries: int = Field(default=4, ge=1, le=10)  # tries per request, the first one included
    backoff_s: float = Field(default=1.0, ge=0)
    max_retry_after_s: float = Field(default=120.0, gt=0)
    max_pages: int = Field(default=10_000, ge=1)  # result pages followed through `_links.next`
    fetch_versions: bool = True  # one request per changed page for every editor, else creator + last editor
    # Incremental runs ask CQL for pages modified since the cursor minus this (CQL reads times in the
    # site's zone, to the minute); what is not newer than the cursor is then dropped here.
    cql_overlap_h: float = Field(default=24.0, ge=0)
