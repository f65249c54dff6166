"""Options of a `people` source."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PeopleOptions(BaseModel):
    """Options of a `people` source beside the common name and `path`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["json", "csv"] | None = None  # default: from the file suffix (.csv, else JSON)
    max_file_mb: float = Field(default=50.0, gt=0)
