"""`whoknows eval retrieval` end to end through the real pipeline: output, run file, a second run embeds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.cli import eval_app as app
from eval.retrieval.run import dataset_home
from tests.eval.subsets import write_scifact_subset


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    return CliRunner()


def snapshot_of(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_second_run_embeds_nothing_and_dataset_is_only_read(tmp_path, shared_data, cli):
    dataset = write_scifact_subset(shared_data / "scifact_beir", tmp_path / "tiny", queries=12, others=20)
    before = snapshot_of(dataset)
    home = tmp_path / "home"
    first = cli.invoke(app, ["--home", str(home), "retrieval", str(dataset), "--json"])
    assert first.exit_code == 0, first.output
    out1 = json.loads(first.output)
    assert {"dataset", "mode", "queries", "ndcg@10", "recall@100", "mrr@10"} <= set(out1)
    assert out1["dataset"] == "tiny" and out1["mode"] == "hybrid" and out1["queries"] == 12
    assert out1["ingest"]["chunks_embedded"] > 0 and out1["ingest"]["failures"] == 0
    documents = out1["ingest"]["documents_added"]
    run_file = Path(out1["run_file"])
    assert run_file.is_file() and run_file.is_relative_to(dataset_home(home, dataset))
    assert len({line.split()[0] for line in run_file.read_text().splitlines()}) == 12

    second = cli.invoke(app, ["--home", str(home), "retrieval", str(dataset), "--json", "--mode", "bm25"])
    assert second.exit_code == 0, second.output
    out2 = json.loads(second.output)
    assert out2["ingest"]["chunks_embedded"] == 0
    assert out2["ingest"]["documents_unchanged"] == documents and out2["ingest"]["documents_added"] == 0
    assert snapshot_of(dataset) == before  # the dataset folder is never written

    text = cli.invoke(app, ["--home", str(home), "retrieval", str(dataset), "--mode", "dense"])
    assert text.exit_code == 0, text.output
    assert "ndcg@10" in text.output and "0 chunks embedded" in text.output
    assert f"run file: {dataset_home(home, dataset) / 'runs' / 'test-dense.trec'}" in text.output


def test_bad_dataset_is_a_clear_usage_error(tmp_path, cli):
    root = tmp_path / "broken"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n')
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1 d1\n")
    result = cli.invoke(app, ["--home", str(tmp_path / "home"), "retrieval", str(root)])
    assert result.exit_code == 2
    assert f"{root / 'qrels' / 'test.tsv'}:2: expected 3 tab-separated columns" in result.output
    bad_mode = cli.invoke(app, ["--home", str(tmp_path / "home"), "retrieval", str(root), "--mode", "x"])
    assert bad_mode.exit_code == 2 and "--mode must be one of" in bad_mode.output
