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
    """The real all-MiniLM-L6-v2 from its package on the default runtime (ONNX int8), loaded once per
    test session. The ONNX export lives in the default model folder, shared with every home."""
    from index.vectors.factory import make_embedder
    from service.settings import Settings

    settings = Settings()
    return make_embedder(settings.embed_backend, settings.model_dir)


@pytest.fixture(scope="session")
def torch_embedder():
    """The same model on torch (sentence-transformers), for the tests of that runtime."""
    from index.vectors.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()
