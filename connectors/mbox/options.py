"""Options of an `mbox` source."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MboxOptions(BaseModel):
    """Options of an `mbox` source beside the common name, acl and `path` (a file or a folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject_prefix: str | None = None  # e.g. "[R-pkg-devel]"; a leading [tag] is stripped anyway
    # Thread links: "{message_id}" in it is replaced by the root's Message-ID (URL-quoted), else appended.
    url_base: str | None = None
    list_name: str | None = None  # path/tag of every thread; default: the List-Id, else the file name
    pattern: str = "*.mbox"  # files taken from a folder (recursively, sorted)
    max_message_mb: float = Field(default=25.0, gt=0)
