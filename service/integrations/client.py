"""The HTTP client the retriever integrations share: GET /passages with a bearer token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

MODES = ("hybrid", "bm25", "dense")
PASSAGES_PATH = "/passages"


class WhoKnowsError(RuntimeError):
    """The server refused or failed a request; the message has the status and the server's reason."""


def _params(
    query: str, k: int, mode: str, sources: Sequence[str], kinds: Sequence[str]
) -> list[tuple[str, Any]]:
    return [
        ("q", query),
        ("k", k),
        ("mode", mode),
        *(("source", s) for s in sources),
        *(("kind", x) for x in kinds),
    ]


def _passages(url: str, response: httpx.Response) -> list[dict[str, Any]]:
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text[:300]
        raise WhoKnowsError(f"{url}{PASSAGES_PATH} answered {response.status_code}: {detail}")
    return list(response.json()["passages"])


class WhoKnowsClient:
    """Passages from a WhoKnows server as `token`'s holder may see them (anonymous without a token)."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 30.0):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout_s = timeout_s

    def passages(
        self, query: str, k: int, mode: str = "hybrid", sources: Sequence[str] = (), kinds: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The best chunk of each of the `k` best documents, best first (see GET /passages)."""
        try:
            with httpx.Client(timeout=self.timeout_s, headers=self.headers) as http:
                response = http.get(self.url + PASSAGES_PATH, params=_params(query, k, mode, sources, kinds))
        except httpx.HTTPError as exc:
            raise WhoKnowsError(f"could not reach WhoKnows at {self.url}: {exc}") from exc
        return _passages(self.url, response)

    async def apassages(
        self, query: str, k: int, mode: str = "hybrid", sources: Sequence[str] = (), kinds: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, headers=self.headers) as http:
                params = _params(query, k, mode, sources, kinds)
                response = await http.get(self.url + PASSAGES_PATH, params=params)
        except httpx.HTTPError as exc:
            raise WhoKnowsError(f"could not reach WhoKnows at {self.url}: {exc}") from exc
        return _passages(self.url, response)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r} (one of {', '.join(MODES)})")
    return mode


def passage_metadata(passage: dict[str, Any]) -> dict[str, Any]:
    """What a retrieved document carries beside its text and score."""
    keys = ("doc_id", "chunk_id", "title", "url", "source", "kind", "heading", "page", "updated_at")
    return {key: passage.get(key) for key in keys}
