"""`python -m tests.noninterference --first-seed S --seeds N --work DIR --out FILE`: the check as its own
process (the test runs it under a frozen wall clock); the report is JSON."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import service  # noqa: F401  (the offline environment, before torch and faiss load)
from index.vectors.embedder import SentenceTransformerEmbedder
from tests.noninterference.harness import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.noninterference")
    parser.add_argument("--first-seed", type=int, default=14)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    result = run(seeds, args.work, SentenceTransformerEmbedder())
    args.out.write_text(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
