"""Answer evaluation: the calibration arithmetic, SciFact's evidence labels, and `whoknows eval answers`
end to end on a small scifact subset through the real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from eval.answers.run import QueryRecord, _threshold_table, answer_metrics, calibrate
from eval.answers.scifact_rationales import _sentence_literals, is_rationale, load_rationales
from eval.cli import eval_app as app
from tests.eval.subsets import write_scifact_subset


def record(
    qid: str, rows: list[tuple[float, float, float, bool, bool]], confident: bool = True
) -> QueryRecord:
    features = np.array([r[:3] for r in rows], dtype=np.float64).reshape(-1, 3)
    return QueryRecord(
        qid=qid,
        features=features,
        relevant=np.array([r[3] for r in rows], dtype=bool),
        evidence=np.array([r[4] for r in rows], dtype=bool),
        has_evidence=any(r[4] for r in rows),
        shown_relevant=[r[3] for r in rows[:1]],
        best_score=float(features[0] @ np.array([0.35, 0.3, 0.35])) if rows else 0.0,
        confident=confident,
        seconds=0.01,
    )


def test_calibration_prefers_the_signal_that_finds_evidence() -> None:
    # In every query the evidence sentence has the most query words but not the highest cosine.
    records = [
        record(
            str(i), [(0.9, 0.1, 0.5, True, False), (0.5, 0.9, 0.5, True, True), (0.2, 0.0, 0.1, False, False)]
        )
        for i in range(10)
    ]
    c = calibrate(records)
    assert c.objective == "evidence@1" and c.objective_value == 1.0
    assert c.weights.kw > c.weights.cos
    assert abs(c.weights.cos + c.weights.kw + c.weights.ctx - 1.0) < 1e-9


def test_threshold_maximises_f1_and_precision_targets_are_reported() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    hits = np.array([True, True, True, False, True, False])
    table = _threshold_table(scores, hits)
    best = max(table, key=lambda r: (r[3], r[0]))
    assert best[0] == 0.5 and best[2] == 1.0  # all four hits kept, precision 4/5
    # ties in score are one threshold
    assert len(_threshold_table(np.array([0.5, 0.5, 0.4]), np.array([True, False, True]))) == 2
    records = [
        record(str(i), [(s, s, s, bool(h), False)])  # every weighting scores s
        for i, (s, h) in enumerate(zip(scores, hits, strict=True))
    ]
    c = calibrate(records)
    assert c.objective == "relevant@1"  # no evidence labels: document relevance
    assert abs(c.threshold - 0.5) < 1e-9 and abs(c.precision - 0.8) < 1e-9 and c.recall == 1.0
    assert c.targets["0.80"]["threshold"] == 0.5 and c.targets["0.90"]["threshold"] == 0.7


def test_metrics_count_quoted_sentences() -> None:
    records = [
        record("a", [(0.9, 0, 0, True, False), (0.5, 0, 0, False, False)]),
        record("b", [(0.3, 0, 0, False, False)], confident=False),
    ]
    records[0].shown_relevant = [True, False]
    m = answer_metrics(records)
    assert m["citation_precision"] == 1 / 3 and m["confident_rate"] == 0.5
    assert m["confident_citation_precision"] == 0.5 and m["top1_precision"] == 0.5


def test_scifact_evidence_labels(shared_data: Path) -> None:
    assert _sentence_literals("['One sentence.'\n 'Another \\'quoted\\' one.']") == [
        "One sentence.",
        "Another 'quoted' one.",
    ]
    rationales = load_rationales(shared_data / "scifact_beir", "train")
    assert len(rationales) == 505  # train claims with evidence sentences
    evidence = rationales["2"]["13734012"]
    assert evidence and is_rationale(evidence[0], evidence)
    assert not is_rationale("Completely unrelated words about robots.", evidence)


def test_cli_eval_answers_on_a_scifact_subset(tmp_path: Path, shared_data: Path) -> None:
    subset = write_scifact_subset(
        shared_data / "scifact_beir", tmp_path / "scifact-mini", queries=6, others=20
    )
    runner = CliRunner()
    home = tmp_path / "home"
    result = runner.invoke(app, ["--home", str(home), "answers", str(subset), "--calibrate", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["queries"] == 6 and body["split"] == "test"
    assert 0.0 <= body["citation_precision"] <= 1.0 and body["latency_ms"]["p50"] > 0
    assert body["citation_precision"] >= 0.5  # the relevant abstracts are a quarter of this small corpus
    assert body["calibration"]["objective"] == "relevant@1"
    # the index is the retrieval evaluation's: a second run embeds nothing
    again = runner.invoke(app, ["--home", str(home), "answers", str(subset)])
    assert again.exit_code == 0 and "citation precision" in again.output
    retrieval = runner.invoke(app, ["--home", str(home), "retrieval", str(subset), "--json"])
    assert json.loads(retrieval.output)["ingest"]["chunks_embedded"] == 0
    bad = runner.invoke(app, ["--home", str(home), "answers", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and "not a folder" in bad.output
