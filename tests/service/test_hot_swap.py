"""Hot swap: new snapshots published while requests are in flight fail none of them, and the running
service moves to each new snapshot on its own."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from service.app import create_app
from service.engine import Engine
from service.security.tokens import TokenStore
from service.settings import Settings
from tests.helpers import ListConnector, make_doc, source_config
from tests.service.conftest import build_index, corpus, serve, settings_for

QUERIES = ["postgres backups", "kubernetes node pools", "hotel expenses", "pager duty escalation", "restore"]


def test_publishing_snapshots_under_load_fails_no_request(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    build_index(home, embedder)
    settings = settings_for(home)
    app = create_app(settings, engine=Engine(settings, embedder=embedder))
    writer = Engine(Settings(home=home), embedder=embedder)
    admin = {"Authorization": f"Bearer {TokenStore(writer.state).create('root', [], ['admin'])[1]}"}
    docs = {name: list(items) for name, items in corpus().items()}
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    stop = threading.Event()

    with serve(app) as url:

        def hammer(worker: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                i = worker
                while not stop.is_set():
                    try:
                        r = c.get("/search", params={"q": QUERIES[i % len(QUERIES)], "k": 5})
                        statuses[r.status_code] += 1
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc))
                    i += 1

        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        try:
            with httpx.Client(base_url=url, timeout=30) as c:
                names = [c.get("/readyz?verbose=1", headers=admin).json()["snapshot"]]
                for round_ in range(3):
                    before = sum(statuses.values())
                    while sum(statuses.values()) < before + 30:  # requests in flight on the old snapshot
                        time.sleep(0.02)
                    word = f"swapword{round_}"
                    docs["handbook"].append(
                        make_doc(
                            "handbook",
                            f"swap-{round_}",
                            f"Lighthouse note {round_}",
                            f"The lighthouse {word} lamp is serviced on day {round_}.",
                        )
                    )
                    pairs = [(source_config(n), ListConnector(n, d)) for n, d in docs.items()]
                    report = writer.pipeline().run(pairs)  # type: ignore[arg-type]
                    assert report.status == "ok" and report.snapshot not in names
                    names.append(str(report.snapshot))
                    deadline = time.monotonic() + 60
                    while True:  # the dense leg alone proves the new vectors are being served
                        hits = c.get(
                            "/search", params={"q": f"lighthouse {word} lamp", "mode": "dense"}
                        ).json()
                        ready = c.get("/readyz?verbose=1", headers=admin).json()
                        if ready["snapshot"] == report.snapshot and any(
                            h["doc_id"] == f"handbook:swap-{round_}" for h in hits["hits"]
                        ):
                            break
                        assert time.monotonic() < deadline, "the service never moved to the new snapshot"
                        time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert not errors, errors[:5]
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) > 90
