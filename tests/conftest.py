"""Shared fixtures: the real bundled model (loaded once), paths to the repo, the demo and shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

import service  # noqa: F401  (applies the offline environment before torch or faiss load)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
DEMO = REPO / "demo"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA}; it must sit beside the project as ../shared")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 from its package, loaded once per test session."""
    from index.vectors.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()
