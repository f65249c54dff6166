"""A small index (public, staff-only and hr-only documents) built once with the real model, and real
uvicorn servers on loopback ports in front of it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from connectors.base import Acl, SourceDocument
from service.app import create_app
from service.engine import Engine
from service.security.tokens import TokenStore
from service.settings import Settings
from tests.helpers import ListConnector, make_doc, source_config

HR = Acl(public=False, groups=frozenset({"hr"}))
STAFF = Acl(public=False, groups=frozenset({"staff"}))
SECURITY = Acl(public=False, groups=frozenset({"security"}))

# Words that exist only in restricted documents: none may reach a caller outside their group.
HR_MARKERS = ("Salary bands 2026", "quokkabudget", "Parental leave casework", "hr:salaries")
STAFF_MARKERS = ("Payments outage postmortem", "zanzibarfailover", "handbook:postmortem")
SECURITY_MARKERS = ("Pentest findings", "obsidianpentest", "security:pentest")


def corpus() -> dict[str, list[SourceDocument]]:
    handbook = [
        make_doc(
            "handbook",
            "backups",
            "Postgres backups runbook",
            "Postgres backups run nightly with pg_basebackup and are kept for 35 days.\n\n"
            "To restore a database use pg_restore with the clean flag and check the row counts.",
            authors=["alice"],
        ),
        make_doc(
            "handbook",
            "oncall",
            "On-call rota",
            "The platform team rotates pager duty weekly. Escalate database incidents after 15 minutes.",
            authors=["bob"],
        ),
        make_doc(
            "handbook",
            "expenses",
            "Travel expenses",
            "Hotel costs up to 180 euros per night are reimbursed with receipts.",
            authors=["carol"],
        ),
        make_doc(
            "handbook",
            "k8s",
            "Kubernetes cluster upgrades",
            "Kubernetes node pools are upgraded one zone at a time with surge capacity.",
            authors=["dave"],
            kind="runbook",
        ),
        make_doc(
            "handbook",
            "postmortem",
            "Payments outage postmortem",
            "The payments database failed over during the backup window; zanzibarfailover replication "
            "lag reached nine minutes. Postgres backups now run from the replica.",
            acl=STAFF,
            authors=["alice"],
        ),
        make_doc(
            "handbook",
            "escaping",
            "Escaping <b>markup</b> & <img src=x onerror=alert(1)>",
            "Backups of <script>alert('x')</script> pages keep their markup as plain text.",
            authors=["erin"],
        ),
        make_doc(
            "handbook",
            "parental",
            "Parental leave casework",
            "Case notes for parental leave requests, quokkabudget approvals and salary adjustments.",
            acl=HR,
            authors=["hana"],
        ),
    ]
    hr = [
        make_doc(
            "hr",
            "salaries",
            "Salary bands 2026",
            "Band L4 pays between 71,000 and 84,000 euros a year; quokkabudget review each March. "
            "Database engineers and Postgres experts sit in band L5.",
            acl=HR,
            authors=["hana"],
        ),
    ]
    security = [
        make_doc(
            "security",
            "pentest",
            "Pentest findings",
            "The obsidianpentest found the Postgres backup bucket readable by every engineer.",
            acl=SECURITY,
            authors=["sam"],
        ),
    ]
    hr = [d.model_copy(update={"tags": ["compensation"]}) for d in hr]
    return {"handbook": handbook, "hr": hr, "security": security}


def build_index(home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(Settings(home=home), embedder=embedder)
    pairs = [(source_config(name), ListConnector(name, docs)) for name, docs in corpus().items()]
    report = engine.pipeline().run(pairs)  # type: ignore[arg-type]
    assert report.status == "ok", report.as_dict()
    engine.store.close()


@pytest.fixture(scope="session")
def index_home(tmp_path_factory, embedder) -> Path:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("service-index")
    build_index(home, embedder)
    return home


@pytest.fixture(scope="session")
def engine(index_home, embedder) -> Engine:  # type: ignore[no-untyped-def]
    engine = Engine(Settings(home=index_home), embedder=embedder)
    assert engine.snapshot() is not None
    return engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    url: str
    app: FastAPI
    settings: Settings

    def client(self, **kwargs) -> httpx.Client:  # type: ignore[no-untyped-def]
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread; proxy_headers off as in `whoknows serve`."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    deadline = time.monotonic() + 30
    pause = threading.Event()  # waits on the monotonic clock: works under a frozen wall clock (libfaketime)
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        pause.wait(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def settings_for(home: Path, **overrides: object) -> Settings:
    # Tests serve anonymous callers unless they say otherwise; the product's default is off.
    base: dict[str, object] = {
        "home": home,
        "anonymous": True,
        "rate_limit_per_minute": 0,
        "stale_after_hours": 36.0,
    }
    base.update(overrides)
    return Settings.model_validate(base)


@pytest.fixture(scope="session")
def open_server(engine, index_home) -> Iterator[Running]:  # type: ignore[no-untyped-def]
    """Anonymous on, 127.0.0.1 a trusted proxy (tests play the SSO proxy), no rate limit."""
    settings = settings_for(index_home, anonymous=True, trusted_proxies=["127.0.0.1"])
    app = create_app(settings, engine=engine)
    with serve(app) as url:
        yield Running(url, app, settings)


@pytest.fixture(scope="session")
def closed_server(engine, index_home) -> Iterator[Running]:  # type: ignore[no-untyped-def]
    """Anonymous off, no trusted proxy: tokens only."""
    settings = settings_for(index_home, anonymous=False, trusted_proxies=[])
    app = create_app(settings, engine=engine)
    with serve(app) as url:
        yield Running(url, app, settings)


@pytest.fixture(scope="session")
def tokens(engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Tokens for the matrix: staff, hr, a search-only hr token, an admin."""
    store = TokenStore(engine.state)
    out = {}
    for name, user, groups, scopes in (
        ("staff", "bob", ["staff"], ["search", "ask", "experts"]),
        ("hr", "hana", ["hr", "staff"], ["search", "ask", "experts"]),
        ("hr_search_only", "hana", ["hr"], ["search"]),
        ("admin", "root", ["ops"], ["admin", "search"]),
    ):
        out[name] = store.create(user, groups, scopes)[1]
    return out


def proxy_headers(user: str, groups: str) -> dict[str, str]:
    return {"X-Forwarded-User": user, "X-Forwarded-Groups": groups}
