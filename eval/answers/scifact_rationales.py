"""SciFact's sentence-level labels: for a claim and a cited abstract, the sentences that are its evidence.

Read from the raw release beside the BEIR folder (`source/scifact.zip`: claims_*.csv with
`evidence_sentences` indices, corpus_train.csv with each abstract as a list of sentence literals).
"""

from __future__ import annotations

import ast
import csv
import io
import re
import tokenize
import zipfile
from pathlib import Path

from eval.retrieval.beir import BeirFormatError

SOURCE_ZIP = Path("source") / "scifact.zip"
CLAIM_FILES = {"train": "claims_train.csv", "test": "claims_validation.csv"}  # BEIR test = SciFact dev
_WORD = re.compile(r"\w+")

Rationales = dict[str, dict[str, list[str]]]  # claim id -> corpus id -> evidence sentences


def _sentence_literals(text: str) -> list[str]:
    """The string literals of a numpy array repr like "['a' 'b']" (adjacent, so not one literal_eval)."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return [str(ast.literal_eval(t.string)).strip() for t in tokens if t.type == tokenize.STRING]


def _rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    with archive.open(name) as fh:
        return list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))


def load_rationales(root: Path, split: str) -> Rationales:
    """Evidence sentences per claim of `split` and abstract; claims without evidence are absent."""
    path = root / SOURCE_ZIP
    if split not in CLAIM_FILES:
        raise BeirFormatError(f"no SciFact evidence labels for split {split!r}")
    if not path.is_file():
        raise BeirFormatError(f"{path}: missing (SciFact's raw release with evidence sentences)")
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(path) as archive:
        claims = _rows(archive, CLAIM_FILES[split])
        wanted = {c["evidence_doc_id"] for c in claims if c["evidence_doc_id"]}
        abstracts = {
            row["doc_id"]: _sentence_literals(row["abstract"])
            for row in _rows(archive, "corpus_train.csv")
            if row["doc_id"] in wanted
        }
    out: Rationales = {}
    for claim in claims:
        doc = claim["evidence_doc_id"]
        indices = [int(x) for x in re.findall(r"\d+", claim["evidence_sentences"] or "")]  # "[1 9]"
        sentences = abstracts.get(doc, [])
        picked = [sentences[i] for i in indices if 0 <= i < len(sentences)]
        if picked:
            out.setdefault(claim["id"], {}).setdefault(doc, []).extend(picked)
    return out


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def is_rationale(sentence: str, evidence: list[str], min_jaccard: float = 0.6) -> bool:
    """Whether a sentence as WhoKnows split it is one of the evidence sentences (word-set overlap)."""
    words = _words(sentence)
    if not words:
        return False
    for e in evidence:
        other = _words(e)
        if other and len(words & other) / len(words | other) >= min_jaccard:
            return True
    return False
