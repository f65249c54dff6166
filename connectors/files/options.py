"""Options of a `files` source."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FilesOptions(BaseModel):
    """Options of a `files` source beside the common name, path and acl."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_mb: float = Field(default=20.0, gt=0)
    # Globs on the relative posix path (see `glob_match`); None means every supported file.
    include: tuple[str, ...] | None = Field(default=None, min_length=1)
    exclude: tuple[str, ...] = ()
    # Documents get `url_prefix + quoted relative path` instead of a file:// URL.
    url_prefix: str | None = None
