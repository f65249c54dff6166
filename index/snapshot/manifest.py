"""A snapshot's manifest: what built it, what it holds, and the checksums its files are verified against."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
STORE_FILE = "store.db"
# The snapshot layout this code reads and writes (slots, partitions, keyword segments, vectors).
FORMAT = 3  # 3: partitions hold ACL clauses


@dataclass(frozen=True)
class Manifest:
    """What built a snapshot and what it holds; checked before a snapshot is served."""

    name: str
    format: int
    model_name: str
    backend: str  # the embedder's runtime (torch, onnx-int8): queries must use the same one
    dim: int
    schema_version: int
    generation: int
    vectors: int  # vectors in the FAISS index (live and dead slots)
    live: int  # live chunks
    index_type: str
    nprobe: int
    segments: tuple[str, ...]
    sources: tuple[str, ...]
    kinds: tuple[str, ...]
    partitions: tuple[tuple[bool, tuple[tuple[str, ...], ...]], ...]  # (public, ACL clauses)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    created_at: str = ""
    # The snapshot's own copy of the store (STORE_FILE), added after the store commits: its size in bytes
    # (0: no copy, the store of the home serves) and the store generation it holds.
    store_bytes: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        raw = json.loads((path / MANIFEST_FILE).read_text())
        raw["segments"] = tuple(raw["segments"])
        raw["sources"] = tuple(raw["sources"])
        raw["kinds"] = tuple(raw["kinds"])
        raw["partitions"] = tuple((bool(p[0]), tuple(tuple(c) for c in p[1])) for p in raw["partitions"])
        return cls(**raw)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
