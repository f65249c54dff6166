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
from connectors.config import SourceConfig, SourceContext, load_sources_config
from connectors.registry import build_connector
from index.people_store import record_contributions
from index.store import Store

CONFIG = Path(__file__).resolve().parents[2] / "eval" / "shared_sources.toml"

# source name -> (documents, people, contributions), as `whoknows ingest` stores them.
EXPECTED = {
    "enwiki": (106, 87, 106),  # pages-articles export: the latest revision of each page only
    "varlab": (405, 75, 495),  # "Created by" and "last modified by"; 82 names, 75 people once linked
    "ai": (421, 386, 2547),  # askers, answerers, accepted answerers, commenters
    "delving": (628, 452, 4604),  # one per post: the topic's opener and its repliers
    "rdevel": (179, 183, 943),  # one per message; display names as keys where addresses are hidden
}


def _configs() -> list[SourceConfig]:
    return load_sources_config(CONFIG)


@pytest.mark.parametrize("config", _configs(), ids=lambda c: c.name)
def test_dataset_counts_in_the_store(config: SourceConfig, shared_data: Path, tmp_path: Path) -> None:
    assert shared_data.is_dir()
    connector = build_connector(config, SourceContext(base_dir=CONFIG.parent))
    items = list(connector.load())
    failures = [i for i in items if isinstance(i, ConnectorFailure)]
    docs = [i for i in items if isinstance(i, SourceDocument)]
    assert failures == []
    store = Store(tmp_path / "home")
    with store.transaction() as db:
        stored = 0
        for doc in docs:
            internal = store.upsert_document(db, doc, doc.content_hash())
            stored += record_contributions(db, internal, doc)
    documents = store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    people = store.db.execute("SELECT COUNT(*) FROM people").fetchone()[0]
    contributions = store.db.execute("SELECT COUNT(*) FROM contributions").fetchone()[0]
    assert (documents, people, contributions) == EXPECTED[config.name]
    assert stored == contributions
    assert {d.doc_id.split(":", 1)[0] for d in docs} == {config.name}
    assert len({d.doc_id for d in docs}) == len(docs)


def test_every_shared_source_is_counted() -> None:
    assert [c.name for c in _configs()] == list(EXPECTED)
