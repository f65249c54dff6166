"""Metrics: a hand-computed example, agreement with ir-measures, our tie order kept, TREC run files."""

from __future__ import annotations

import math
import random

import ir_measures
import pytest
from ir_measures import RR, R, nDCG

from eval.metrics import evaluate_run, per_query_scores, ranked_scores, write_trec_run


def test_hand_computed_example():
    qrels = {"q1": {"d1": 1, "d3": 1}, "q2": {"d9": 1}}
    run = {"q1": [("d2", 3.0), ("d1", 2.0), ("d3", 1.0)], "q2": [("d5", 1.0)]}
    m = evaluate_run(qrels, run)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((dcg / idcg + 0.0) / 2)
    assert m["mrr@10"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["recall@100"] == pytest.approx((1.0 + 0.0) / 2)


def test_graded_gain_and_unretrieved_query_counts_as_zero():
    qrels = {"q1": {"a": 2, "b": 1}, "q2": {"c": 1}}
    run = {"q1": [("b", 2.0), ("a", 1.0)]}  # q2 got nothing back
    m = evaluate_run(qrels, run)
    dcg = 1 + 2 / math.log2(3)
    idcg = 2 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg / 2)
    assert m["mrr@10"] == pytest.approx(0.5)


def test_agrees_with_ir_measures_on_a_random_run():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(300)]
    qrels = {
        f"q{q}": {d: rng.choice([1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 6))} for q in range(40)
    }
    run = {q: [(d, 1000.0 - i) for i, d in enumerate(rng.sample(docs, 150))] for q in qrels}
    ours = evaluate_run(qrels, run)
    scored = {q: dict(pairs) for q, pairs in run.items()}
    theirs = ir_measures.calc_aggregate([nDCG @ 10, R @ 100, RR @ 10], qrels, scored)
    assert ours["ndcg@10"] == pytest.approx(theirs[nDCG @ 10])
    assert ours["recall@100"] == pytest.approx(theirs[R @ 100])
    assert ours["mrr@10"] == pytest.approx(theirs[RR @ 10])


def test_ties_keep_our_order_not_trec_evals_name_order():
    qrels = {"q": {"a": 1}}
    run = {"q": [("b", 0.5), ("a", 0.5)]}  # tie already broken by id upstream: b first
    assert evaluate_run(qrels, run)["mrr@10"] == pytest.approx(0.5)
    assert ranked_scores(run) == {"q": {"b": 2.0, "a": 1.0}}


def test_queries_without_positive_judgments_are_left_out():
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    m = evaluate_run(qrels, {"q1": [("a", 1.0)], "q2": [("b", 1.0)]})
    assert m["mrr@10"] == 1.0
    assert set(per_query_scores({"q1": {"a": 1}}, {"q1": {"a": 1.0}})) == {"q1"}


def test_trec_run_file_reads_back_with_ir_measures(tmp_path):
    run = {"q2": [("x", 0.3), ("y", 0.3)], "q1": [("z", 9.0)]}
    path = tmp_path / "runs" / "test.trec"
    write_trec_run(path, run, tag="t")
    lines = path.read_text().splitlines()
    assert lines == ["q1 Q0 z 1 1 t", "q2 Q0 x 1 2 t", "q2 Q0 y 2 1 t"]
    back = list(ir_measures.read_trec_run(str(path)))
    assert [(r.query_id, r.doc_id) for r in back] == [("q1", "z"), ("q2", "x"), ("q2", "y")]
