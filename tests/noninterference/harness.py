"""The non-interference check: the full store and, per caller, a store built from only the documents that
caller may see, both through the real pipeline (real SQLite, FAISS and model); every endpoint over HTTP,
the CLI's --json commands and the LangChain retriever asked the same things on both; the answers compared
byte for byte. A difference is reported with its endpoint and the JSON paths that differ; a word found
only in a document hidden from the caller, seen in any answer, is a leak.

Runs in a process whose wall clock is frozen (libfaketime; see `tests/test_noninterference.py`): both
stores are then built and asked at the same instant, so run times and evidence ages match.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from connectors.base import Acl, SourceDocument
from connectors.config import SourceConfig
from index.acl import Principal, acl_allows
from index.experts.finder import ExpertFinder
from index.experts.model import ExpertSettings
from index.retrieval.langchain_retriever import WhoKnowsRetriever
from index.vectors.embedder import Embedder
from ingest.pipeline import IngestPipeline
from ingest.vector_cache import VectorCache
from service.app import create_app
from service.cli.main import app as cli_app
from service.engine import Engine
from service.settings import Settings
from tests.helpers import ListConnector, ListDirectory
from tests.noninterference.corpus import Corpus, effective_acl, make_corpus
from tests.service.conftest import serve

MODES = ("hybrid", "bm25", "dense")
# Answers ranked through the keyword leg (or the answer scorer's IDF): equal only once BM25's statistics
# are taken over the caller's visible documents (issue 12). Everything else must be equal already.
BM25_DEPENDENT = frozenset(
    {
        "http-search-hybrid",
        "http-search-bm25",
        "http-search-filtered",
        "http-ask",
        "http-experts",
        "cli-search-hybrid",
        "cli-search-bm25",
        "cli-experts",
        "cli-ask",
        "langchain-hybrid",
        "langchain-bm25",
    }
)


@dataclass
class Result:
    """What one run found."""

    seeds: list[int] = field(default_factory=list)
    cases: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    differences: list[dict[str, Any]] = field(default_factory=list)
    leaks: list[dict[str, Any]] = field(default_factory=list)
    keyword_statistics_visible_only: bool = False
    callers: list[dict[str, Any]] = field(default_factory=list)  # who asked, and how much was hidden
    seconds: float = 0.0
    seconds_by_kind: dict[str, float] = field(default_factory=dict)

    def record(self, kind: str, equal: bool, seconds: float) -> None:
        self.cases += 1
        counts = self.by_kind.setdefault(kind, {"cases": 0, "different": 0})
        counts["cases"] += 1
        counts["different"] += 0 if equal else 1
        self.seconds_by_kind[kind] = round(self.seconds_by_kind.get(kind, 0.0) + seconds, 2)


def build(
    home: Path, corpus: Corpus, embedder: Embedder, cache: Path, keep: Callable[[SourceDocument], bool]
) -> Engine:
    """The corpus's directory and sources (each with its ceiling) through the pipeline, documents kept by
    `keep`; the vector cache is shared, so a caller's store embeds nothing new."""
    settings = Settings(home=home, anonymous=True, trusted_proxies=["127.0.0.1"], rate_limit_per_minute=0)
    engine = Engine(settings, embedder=embedder)
    pipeline = IngestPipeline(engine.store, engine.snapshots, embedder, VectorCache(cache, embedder.dim))
    pairs: list[Any] = [
        (
            SourceConfig.model_validate({"name": "people", "type": "people"}),
            ListDirectory("people", corpus.directory),
        )
    ]
    for source, items in corpus.documents.items():
        config = SourceConfig(name=source, type="files", acl=corpus.ceilings[source])
        kept = (
            [d for d in items if isinstance(d, SourceDocument) and keep(d)]
            if keep is not _everything
            else items
        )
        pairs.append((config, ListConnector(source, kept)))
    pipeline.run(pairs)
    return engine


def _everything(doc: SourceDocument) -> bool:
    return True


def json_paths(a: Any, b: Any, path: str = "$", out: list[str] | None = None, limit: int = 8) -> list[str]:
    """Where two JSON values differ (the first `limit` paths)."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{path}.{key} (only in {'full' if key in a else 'alone'})")
            else:
                json_paths(a[key], b[key], f"{path}.{key}", out, limit)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path} (length {len(a)} vs {len(b)})")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            json_paths(x, y, f"{path}[{i}]", out, limit)
    elif a != b:
        out.append(f"{path}: {json.dumps(a)[:60]} vs {json.dumps(b)[:60]}")
    return out


def _diff(full: str, alone: str) -> list[str]:
    try:
        return json_paths(json.loads(full), json.loads(alone)) or ["(bytes differ)"]
    except ValueError:
        return ["(text differs)"]


class Asker:
    """One caller asking one store through every front door."""

    def __init__(self, engine: Engine, url: str, login: str | None, groups: list[str]):
        self.engine, self.login, self.groups = engine, login, groups
        self.http = httpx.Client(base_url=url, timeout=120)
        if login:
            self.http.headers.update({"X-Forwarded-User": login, "X-Forwarded-Groups": ",".join(groups)})
        self.principal = engine.principal(login, groups) if login else Principal.anonymous()
        self.cli = CliRunner()

    def get(self, path: str, **params: Any) -> str:
        r = self.http.get(path, params=params)
        return f"{r.status_code} {r.text}"

    def post(self, path: str, body: dict[str, Any]) -> str:
        r = self.http.post(path, json=body)
        return f"{r.status_code} {r.text}"

    def command(self, *args: str) -> str:
        who = ["--as", self.login, "--groups", ",".join(self.groups)] if self.login else []
        result = self.cli.invoke(cli_app, ["--home", str(self.engine.settings.home), *args, *who, "--json"])
        return f"{result.exit_code} {result.stdout}"

    def langchain(self, query: str, mode: str) -> str:
        docs = WhoKnowsRetriever(retriever=self.engine.retriever, k=5, mode=mode).invoke(
            query, principal=self.principal
        )
        return "ok " + json.dumps(
            [{"text": d.page_content, "metadata": d.metadata} for d in docs], sort_keys=True
        )

    def dense_experts(self, query: str) -> str:
        finder = ExpertFinder(self.engine.retriever, ExpertSettings(retrieval_mode="dense"))
        found = finder.rank_experts(query, self.principal, k=10)
        return "ok " + json.dumps([asdict(e) for e in found], sort_keys=True)

    def close(self) -> None:
        self.http.close()


def questions(corpus: Corpus) -> Iterator[tuple[str, str, Callable[[Asker], str]]]:
    """(kind, request, how to ask it) for everything a caller can ask."""
    q0, q1, q2 = corpus.queries
    for q in corpus.queries:
        for mode in MODES:
            yield (
                f"http-search-{mode}",
                f"/search {mode} {q!r}",
                lambda a, q=q, m=mode: a.get("/search", q=q, k=10, mode=m),
            )
            yield f"langchain-{mode}", f"invoke {mode} {q!r}", lambda a, q=q, m=mode: a.langchain(q, m)
        yield (
            "http-search-filtered",
            f"/search source=mail {q!r}",
            lambda a, q=q: a.get("/search", q=q, source="mail"),
        )
        yield "http-experts", f"/experts {q!r}", lambda a, q=q: a.get("/experts", q=q, k=10)
        yield "index-experts-dense", f"rank_experts dense {q!r}", lambda a, q=q: a.dense_experts(q)
        yield "http-ask", f"/ask {q!r}", lambda a, q=q: a.post("/ask", {"question": q, "k": 5})
    yield "http-sources", "/sources", lambda a: a.get("/sources")
    for doc in corpus.all_documents():
        yield "http-documents", f"/documents/{doc.doc_id}", lambda a, d=doc.doc_id: a.get(f"/documents/{d}")
    people = sorted(
        {d.person_id for d in corpus.directory}
        | {f"{d.source}:{c.person.account}" for d in corpus.all_documents() for c in d.contributions}
        | {"nobody:here"}
    )
    for pid in people:
        yield "http-people", f"/people/{pid}", lambda a, p=pid: a.get(f"/people/{p}")
    for mode in MODES:
        yield (
            f"cli-search-{mode}",
            f"search {mode} {q0!r}",
            lambda a, m=mode: a.command("search", q0, "--mode", m),
        )
    yield "cli-experts", f"experts {q1!r}", lambda a: a.command("experts", q1)
    yield "cli-ask", f"ask {q2!r}", lambda a: a.command("ask", q2)
    for pid in [p for p in people if ":" not in p][:1] + [p for p in people if ":" in p][:1]:
        yield "cli-person", f"person {pid}", lambda a, p=pid: a.command("person", p)


def check_seed(seed: int, work: Path, embedder: Embedder, result: Result) -> None:
    corpus = make_corpus(seed)
    cache = work / f"seed{seed}-vectors.sqlite"
    full = build(work / f"seed{seed}-full", corpus, embedder, cache, _everything)
    with ExitStack() as stack:
        full_url = stack.enter_context(serve(create_app(full.settings, engine=full)))
        for name, login, groups in corpus.callers:
            principal = full.principal(login, groups) if login else Principal.anonymous()
            visible = {
                d.doc_id for d in corpus.all_documents() if acl_allows(principal, effective_acl(corpus, d))
            }
            alone = build(
                work / f"seed{seed}-{name}", corpus, embedder, cache, lambda d, v=visible: d.doc_id in v
            )
            hidden = [m for doc_id, m in corpus.markers.items() if doc_id not in visible]
            result.callers.append(
                {
                    "seed": seed,
                    "caller": f"{name} ({login}, {groups})",
                    "visible": len(visible),
                    "hidden": len(hidden),
                }
            )
            with serve(create_app(alone.settings, engine=alone)) as alone_url:
                a, b = Asker(full, full_url, login, groups), Asker(alone, alone_url, login, groups)
                try:
                    for kind, request, ask in questions(corpus):
                        started = time.monotonic()
                        got, want = ask(a), ask(b)
                        equal = got == want
                        result.record(kind, equal, time.monotonic() - started)
                        where = {
                            "seed": seed,
                            "caller": f"{name} ({login}, {groups})",
                            "kind": kind,
                            "request": request,
                        }
                        if not equal:
                            result.differences.append(
                                {**where, "paths": _diff(got.partition(" ")[2], want.partition(" ")[2])}
                            )
                        for marker in hidden:
                            if marker in got:
                                result.leaks.append({**where, "marker": marker})
                finally:
                    a.close()
                    b.close()
            alone.store.close()


def keyword_statistics_visible_only(work: Path, embedder: Embedder) -> bool:
    """Does the keyword engine score a public document the same whether hidden documents exist or not?
    (FTS5's bm25() counts every row; the engine of issue 12 counts the caller's visible documents.)"""
    from tests.helpers import make_doc, source_config

    public = make_doc("p", "pub", "Alpha notes", "alpha beta gamma delta", acl=Acl(public=True))
    hidden = [
        make_doc("p", f"h{i}", "Alpha", "alpha " * (i + 1), acl=Acl(groups=frozenset({"legal"})))
        for i in range(3)
    ]
    scores = []
    for name, docs in (("probe-full", [public, *hidden]), ("probe-alone", [public])):
        engine = Engine(Settings(home=work / name), embedder=embedder)
        IngestPipeline(
            engine.store, engine.snapshots, embedder, VectorCache(work / "probe.sqlite", embedder.dim)
        ).run([(source_config("p"), ListConnector("p", docs))])
        scores.append(
            [h.score for h in engine.retriever.search("alpha beta", Principal.anonymous(), mode="bm25")]
        )
    return scores[0] == scores[1]


def run(seeds: list[int], work: Path, embedder: Embedder) -> Result:
    started = time.monotonic()
    result = Result(
        seeds=seeds, keyword_statistics_visible_only=keyword_statistics_visible_only(work, embedder)
    )
    for seed in seeds:
        check_seed(seed, work, embedder, result)
    result.seconds = round(time.monotonic() - started, 1)
    return result
