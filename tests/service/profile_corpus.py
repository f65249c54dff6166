"""A small intranet with a directory, built once with the real model, for the tests of people's own
profiles; each test serves it with a state store of its own (nothing one test records reaches another),
and a real webhook receiver on loopback. Use the fixtures with
`from tests.service.profile_corpus import profile_home_fixture, served_fixture  # noqa: F401`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    Acl,
    Contribution,
    DirectoryPerson,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
)
from index.store.identity import apply_directory
from service.app import create_app
from service.engine import Engine
from service.security.tokens import TokenStore
from service.settings import Settings
from tests.helpers import ListConnector, source_config
from tests.service.conftest import Running, serve, settings_for

HR = Acl(public=False, groups=frozenset({"hr"}))
NOW = datetime(2026, 3, 1, tzinfo=UTC)
HIDDEN_MARKERS = ("quokkabudget", "Database team salary bands", "wiki:salaries")


def _doc(
    native: str,
    title: str,
    text: str,
    authors: list[str],
    tags: list[str],
    days: int = 20,
    acl: Acl | None = None,
) -> SourceDocument:
    at = NOW - timedelta(days=days)
    return SourceDocument(
        doc_id=f"wiki:{native}",
        source="wiki",
        kind="wiki",
        title=title,
        url=f"https://wiki.example/{native}",
        sections=[Section(text=p) for p in text.split("\n\n") if p.strip()],
        updated_at=at,
        version=content_version((title + text).encode()),
        acl=acl or Acl(public=True),
        tags=tags,
        contributions=[
            Contribution(person=PersonRef(account=a, name=a), role=Role.AUTHOR, at=at) for a in authors
        ],
    )


def corpus() -> list[SourceDocument]:
    return [
        _doc("pg-backups", "Postgres backups runbook", "Postgres backups run nightly with pg_basebackup and are kept "
             "for 35 days. Restore a postgres database with pg_restore and check the row counts.", ["alice"], ["postgres", "backups"]),
        _doc("pg-replication", "Postgres replication guide", "Streaming replication keeps a postgres standby in "
             "sync; watch the replication lag and fail over with pg_ctl promote.", ["alice"], ["postgres", "replication"]),
        _doc("k8s-ingress", "Kubernetes ingress notes", "Kubernetes ingress controllers route traffic to services; "
             "certificates renew through cert-manager.", ["alice"], ["kubernetes"]),
        _doc("pg-vacuum", "Postgres vacuum tuning", "Autovacuum keeps postgres tables lean; tune the postgres "
             "vacuum thresholds for busy tables and watch bloat.", ["bruno"], ["postgres"]),
        _doc("k8s-upgrades", "Kubernetes cluster upgrades", "Kubernetes node pools are upgraded one zone at a time "
             "with surge capacity; drain nodes before the kubernetes upgrade.", ["carmen"], ["kubernetes"]),
        _doc("tf-modules", "Terraform modules", "Terraform modules wrap our cloud networks; pin terraform provider "
             "versions and review every terraform plan.", ["dave"], ["terraform"]),
        _doc("tf-state", "Terraform state locking", "Terraform state lives in a locked bucket; never edit terraform "
             "state by hand, import resources instead.", ["erin"], ["terraform"]),
        _doc("salaries", "Database team salary bands", "The quokkabudget review sets postgres engineers' salary "
             "bands each March.", ["alice"], ["compensation"], acl=HR),
    ]  # fmt: skip


def directory() -> list[DirectoryPerson]:
    def person(pid: str, name: str, **extra: Any) -> DirectoryPerson:
        return DirectoryPerson(
            person_id=pid,
            name=name,
            emails=(f"{pid}@corp.example",),
            accounts=(("wiki", pid),),
            team="Platform",
            **extra,
        )

    return [
        person("alice", "Alice Archer"),
        person("bruno", "Bruno Bauer"),
        person("carmen", "Carmen Costa"),
        person("dave", "Dave Dias", mentor_opt_in=True, mentor_capacity=1),
        person("erin", "Erin Eng", mentor_opt_in=True, mentor_capacity=2),
        person("frank", "Frank Fox"),
    ]  # fmt: skip


@pytest.fixture(scope="session", name="profile_home")
def profile_home_fixture(tmp_path_factory, embedder) -> Path:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("profile-index")
    engine = Engine(Settings(home=home), embedder=embedder)
    with engine.store.transaction() as db:  # first: the snapshot the run publishes carries the directory
        apply_directory(db, directory())
    report = engine.pipeline().run([(source_config("wiki"), ListConnector("wiki", corpus()))])  # type: ignore[list-item]
    assert report.status == "ok", report.as_dict()
    engine.store.close()
    return home


@dataclass
class Hook:
    """A webhook receiver: every POST it got, headers and JSON body; answers `status`."""

    url: str
    received: list[tuple[dict[str, str], dict[str, Any], bytes]] = field(default_factory=list)
    status: int = 204


@contextmanager
def webhook_receiver() -> Iterator[Hook]:
    hook = Hook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the standard library's name
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(raw), raw))
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/mentoring"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="webhook")
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Served:
    running: Running
    hook: Hook
    tokens: dict[str, str]
    engine: Engine


WEBHOOK_SECRET = "s3cret-for-tests"


@contextmanager
def profile_server(home: Path, state_dir: Path, embedder: Any, **overrides: Any) -> Iterator[Served]:
    """The profile index served with a fresh state store, 127.0.0.1 a trusted proxy, and a webhook."""
    with webhook_receiver() as hook:
        options: dict[str, Any] = {
            "anonymous": True,
            "trusted_proxies": ["127.0.0.1"],
            "database_url": f"sqlite://{state_dir / 'state.db'}",
            "mentoring_webhook_url": hook.url,
            "mentoring_webhook_secret": WEBHOOK_SECRET,
        }
        settings = settings_for(home, **{**options, **overrides})
        engine = Engine(settings, embedder=embedder)
        store = TokenStore(engine.state)
        tokens = {
            "admin": store.create("root", ["ops"], ["admin", "experts"])[1],
            "admin_without_experts": store.create("root2", ["ops"], ["admin", "search"])[1],
            "alice": store.create("alice@corp.example", ["staff"], ["experts"])[1],
            "frank": store.create("frank", ["staff"], ["search", "experts"])[1],
        }
        app = create_app(settings, engine=engine)
        with serve(app) as url:
            yield Served(Running(url, app, settings), hook, tokens, engine)
        engine.state.close()
        engine.store.close()


@pytest.fixture(name="served")
def served_fixture(profile_home, tmp_path, embedder) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    with profile_server(profile_home, tmp_path, embedder) as s:
        yield s
