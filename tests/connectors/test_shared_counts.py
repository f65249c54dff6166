"""Every shared dataset a connector reads, from eval/shared_sources.toml into a real store: the counts.

The same config is what `whoknows ingest --config eval/shared_sources.toml` reads; these are the
documents, people (after identity resolution) and contributions that ingest stores. Embedding is not
part of these counts, so the documents are written with the store's own calls and no chunks, which keeps
this test at seconds instead of the ten minutes the 27,000 chunks take to embed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import ConnectorFailure, SourceDocument
from connectors.config import SourceConfig, SourceContext
from connectors.registry import build_connector, load_sources_config
from index.store.documents import Store
from index.store.identity import record_contributions

CONFIG = Path(__file__).resolve().parents[2] / "eval" / "shared_sources.toml"

# source name -> (documents, people, contributions), as `whoknows ingest` stores them.
EXPECTED = {
    "enwiki": (106, 87, 106),  # pages-articles export: the latest revision of each page only
    "varlab": (405, 75, 495),  # "Created by" and "last modified by"; 82 names, 75 people once linked
    "ai": (421, 387, 2547),  # askers, answerers, accepted answerers, commenters
    "delving": (628, 456, 4604),  # one per post: the topic's opener and its repliers
    "rdevel": (179, 183, 943),  # one per message; display names as keys where addresses are hidden
}


def _configs() -> list[SourceConfig]:
    return load_sources_config(CONFIG)


@pytest.fixture(scope="module")
def loaded(shared_data: Path) -> dict[str, list[SourceDocument]]:
    """Each source read once through its real connector; a failure anywhere fails every test here."""
    assert shared_data.is_dir()
    out = {}
    for config in _configs():
        items = list(build_connector(config, SourceContext(base_dir=CONFIG.parent)).load())
        assert [i for i in items if isinstance(i, ConnectorFailure)] == [], config.name
        out[config.name] = [i for i in items if isinstance(i, SourceDocument)]
    return out


def store_counts(home: Path, docs: list[SourceDocument]) -> tuple[int, int, int, Store]:
    store = Store(home)
    with store.transaction() as db:
        for doc in docs:
            record_contributions(db, store.upsert_document(db, doc, doc.content_hash()), doc)
    documents, people, contributions = (
        store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("documents", "people", "contributions")
    )
    return documents, people, contributions, store


@pytest.mark.parametrize("name", list(EXPECTED))
def test_dataset_counts_in_the_store(
    name: str, loaded: dict[str, list[SourceDocument]], tmp_path: Path
) -> None:
    docs = loaded[name]
    documents, people, contributions, _ = store_counts(tmp_path, docs)
    assert (documents, people, contributions) == EXPECTED[name]
    assert {d.doc_id.split(":", 1)[0] for d in docs} == {name}
    assert len({d.doc_id for d in docs}) == len(docs)


def test_all_datasets_in_one_store_link_nobody_across_them(
    loaded: dict[str, list[SourceDocument]], tmp_path: Path
) -> None:
    """Five unrelated public communities: identity resolution must not invent shared people."""
    documents, people, contributions, store = store_counts(
        tmp_path, [d for docs in loaded.values() for d in docs]
    )
    assert documents == sum(e[0] for e in EXPECTED.values())
    assert people == sum(e[1] for e in EXPECTED.values()) == 1188
    assert contributions == sum(e[2] for e in EXPECTED.values())
    shared = store.db.execute(
        "SELECT COUNT(*) FROM (SELECT person FROM accounts GROUP BY person HAVING COUNT(DISTINCT source) > 1)"
    ).fetchone()[0]
    assert shared == 0


def test_every_shared_source_is_counted() -> None:
    assert [c.name for c in _configs()] == list(EXPECTED)
