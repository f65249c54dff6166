"""The BEIR loader and connector: header or not, malformed input named by file and line, documents mapped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base import Connector, SourceDocument
from eval.retrieval.beir import BeirConnector, BeirFormatError, load_beir, load_qrels

CORPUS = [
    {
        "_id": "d1",
        "title": "Aspirin and stroke",
        "text": "Low-dose aspirin lowers the risk of a second stroke.",
    },
    {"_id": "d2", "title": "", "text": "Statins reduce LDL cholesterol."},
    {"_id": 3, "title": "Title only", "text": ""},
]
QUERIES = [{"_id": "q1", "text": "aspirin prevents stroke"}, {"_id": "q2", "text": "cholesterol drugs"}]


def write_set(root: Path, qrels: str, split: str = "test") -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in CORPUS))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES) + "\n")
    (root / "qrels" / f"{split}.tsv").write_text(qrels)
    return root


def test_qrels_with_and_without_header_read_the_same(tmp_path):
    body = "q1\td1\t1\nq2\td2\t2\nq2\tmissing\t1\n"
    with_header = load_beir(write_set(tmp_path / "a", "query-id\tcorpus-id\tscore\n" + body))
    without = load_beir(write_set(tmp_path / "b", body))
    assert with_header.qrels == without.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "missing": 1}}
    assert with_header.queries == {"q1": "aspirin prevents stroke", "q2": "cholesterol drugs"}
    assert with_header.unknown_docs == 1
    assert with_header.name == "a"


def test_only_judged_queries_are_kept(tmp_path):
    ds = load_beir(write_set(tmp_path / "s", "q2\td2\t1\n"))
    assert list(ds.queries) == ["q2"]


@pytest.mark.parametrize(
    ("qrels", "line", "what"),
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\n", 2, "expected 3 tab-separated columns"),
        ("q1\td1\t1\nq1\td2\tvery\n", 2, "is not an integer"),
        ("q1\td1\t1\nq1\td2\t1\textra\n", 2, "got 4"),
        ("q1\t\t1\n", 1, "empty query or corpus id"),
    ],
)
def test_bad_qrels_line_names_file_and_line(tmp_path, qrels, line, what):
    root = write_set(tmp_path / "s", qrels)
    with pytest.raises(BeirFormatError) as err:
        load_beir(root)
    assert f"{root / 'qrels' / 'test.tsv'}:{line}:" in str(err.value)
    assert what in str(err.value)


def test_bad_utf8_and_empty_qrels(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_bytes(b"q1\td1\t1\nq\xff\td2\t1\n")
    with pytest.raises(BeirFormatError, match=r"q\.tsv:2: not UTF-8"):
        load_qrels(path)
    path.write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(BeirFormatError, match="no judgments"):
        load_qrels(path)


def test_bad_corpus_and_query_lines(tmp_path):
    root = write_set(tmp_path / "s", "q1\td1\t1\n")
    with (root / "corpus.jsonl").open("a") as fh:
        fh.write('{"_id": "d9", "text": "truncated\n')
    with pytest.raises(BeirFormatError, match=r"corpus\.jsonl:4: invalid JSON"):
        load_beir(root)
    root = write_set(tmp_path / "t", "q1\td1\t1\n")
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n["not", "an", "object"]\n')
    with pytest.raises(BeirFormatError, match=r"queries\.jsonl:2: expected a JSON object"):
        load_beir(root)
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n{"text": "no id"}\n')
    with pytest.raises(BeirFormatError, match=r"queries\.jsonl:2: missing field '_id'"):
        load_beir(root)
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n{"_id": "q1", "text": "again"}\n')
    with pytest.raises(BeirFormatError, match=r"queries\.jsonl:2: duplicate query id 'q1'"):
        load_beir(root)


def test_unknown_query_missing_split_and_missing_files(tmp_path):
    root = write_set(tmp_path / "s", "q7\td1\t1\n")
    with pytest.raises(BeirFormatError, match=r"query ids not in queries\.jsonl, e\.g\. q7"):
        load_beir(root)
    with pytest.raises(BeirFormatError, match=r"dev\.tsv: missing \(splits here: test\)"):
        load_beir(root, "dev")
    (root / "corpus.jsonl").unlink()
    with pytest.raises(BeirFormatError, match=r"corpus\.jsonl: missing"):
        load_beir(root)
    with pytest.raises(BeirFormatError, match="not a folder"):
        load_beir(tmp_path / "nowhere")


def test_connector_maps_each_line_to_a_public_document(tmp_path):
    root = write_set(tmp_path / "s", "q1\td1\t1\n")
    connector = BeirConnector(root / "corpus.jsonl")
    assert isinstance(connector, Connector)
    docs = [d for d in connector.load() if isinstance(d, SourceDocument)]
    assert [d.doc_id for d in docs] == ["beir:d1", "beir:d2", "beir:3"]
    first = docs[0]
    assert first.title == "Aspirin and stroke" and first.acl.public
    assert [s.text for s in first.sections] == ["Low-dose aspirin lowers the risk of a second stroke."]
    assert docs[2].sections[0].text == "Title only"  # a title-only entry can still be found
    assert list(connector.list_ids()) == ["beir:d1", "beir:d2", "beir:3"]
    again = [d for d in connector.load() if isinstance(d, SourceDocument)]
    assert [d.version for d in again] == [d.version for d in docs]
