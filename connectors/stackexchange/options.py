"""Options of a `stackexchange` source."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StackExchangeOptions(BaseModel):
    """Options of a `stackexchange` source beside the common name, path and acl."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Site root, e.g. "https://ai.stackexchange.com": documents get f"{url_base}/questions/{id}".
    url_base: str | None = None
