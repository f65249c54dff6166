"""The fitted expert ranker: a linear model over the features of index/experts/features.py, read from
a small JSON file (no pickle, no learning library at query time) written by `python -m eval.experts.train`.

    score(p) = sum over features f of weight_f x (x_f(p) - mean_f) / scale_f

The weights were fitted on pairs of people within a question (who answered against who did not), so
only differences within a question matter; the shown score is exp(score), a ratio: e^1 means the
model's odds that this person answers are e times those of a person one unit below.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from index.experts.features import FEATURES

SHIPPED = Path(__file__).with_name("ranker.json")
FORMAT = "whoknows-expert-ranker/1"


class RankerFileError(ValueError):
    """A ranker file that is not one this code can score with."""


@dataclass(frozen=True)
class LinearRanker:
    """Weights over standardised features, and the settings its features were computed with."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    settings: Mapping[str, float] = field(default_factory=dict)  # depth, rank_k, activity_half_life_share
    trained: Mapping[str, Any] = field(default_factory=dict)  # what it was fitted on, and by which command

    def __post_init__(self) -> None:
        if self.features != FEATURES:
            missing = sorted(set(FEATURES) ^ set(self.features))
            raise RankerFileError(f"ranker features differ from this code's ({missing or 'order'}); retrain")
        if not len(self.weights) == len(self.mean) == len(self.scale) == len(FEATURES):
            raise RankerFileError("ranker weights, mean and scale must each have one value per feature")
        if any(s <= 0 or not math.isfinite(s) for s in self.scale):
            raise RankerFileError("ranker scales must be positive")

    def score(self, x: Sequence[float]) -> float:
        return math.fsum(
            w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True)
        )

    def contributions(self, x: Sequence[float]) -> dict[str, float]:
        """Each feature's part of the score: what lifted or lowered this person."""
        return {
            f: w * (v - m) / s
            for f, w, v, m, s in zip(self.features, self.weights, x, self.mean, self.scale, strict=True)
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": "linear, pairwise logistic loss",
            "features": list(self.features),
            "weights": [round(w, 6) for w in self.weights],
            "mean": [round(m, 6) for m in self.mean],
            "scale": [round(s, 6) for s in self.scale],
            "settings": dict(self.settings),
            "trained": dict(self.trained),
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")


def ranker_from_dict(data: Mapping[str, Any]) -> LinearRanker:
    if data.get("format") != FORMAT:
        raise RankerFileError(f"not a {FORMAT} file (format {data.get('format')!r})")
    try:
        return LinearRanker(
            features=tuple(str(f) for f in data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            mean=tuple(float(m) for m in data["mean"]),
            scale=tuple(float(s) for s in data["scale"]),
            settings={str(k): float(v) for k, v in data.get("settings", {}).items()},
            trained=dict(data.get("trained", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RankerFileError):
            raise
        raise RankerFileError(f"malformed ranker file: {exc}") from exc


@lru_cache(maxsize=8)
def load_ranker(path: Path = SHIPPED) -> LinearRanker:
    """The ranker in `path` (the shipped one by default), read once per path."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RankerFileError(f"{path}: cannot read the ranker ({exc})") from exc
    return ranker_from_dict(data)
