"""What operators expect: /livez and /readyz (with /health and /ready as aliases) that say nothing more
than they must, Prometheus names per its naming guide, JSON logs with request ids and no query text, and
OpenTelemetry spans per request and per retrieval leg (an in-memory exporter, and OTLP/HTTP to a
collector on loopback)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from service.api.ops import NO_INDEX
from service.app import create_app
from service.engine import Engine
from service.ops.logs import JsonFormatter, RequestIdFilter
from service.ops.tracing import TracingUnavailable, tracer_provider_from
from service.security.tokens import TokenStore
from tests.service.conftest import Running, free_port, serve, settings_for

SECRET_WORDS = "zanzibarfailover replication lag"  # a query that must never reach a log line or a span
TRACEPARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT_SPAN = "00f067aa0ba902b7"


def test_probes_say_ready_or_not_and_nothing_else(open_server: Running, tokens: dict[str, str]) -> None:
    with open_server.client() as c:
        for path in ("/livez", "/health"):
            assert c.get(path).json() == {"status": "ok"}
        for path in ("/readyz", "/ready"):
            r = c.get(path)
            assert r.status_code == 200 and r.json() == {"status": "ready"}
        assert c.get("/readyz", params={"verbose": 1}).status_code == 401
        staff = {"Authorization": f"Bearer {tokens['staff']}"}
        assert c.get("/readyz", params={"verbose": 1}, headers=staff).status_code == 403
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        details = c.get("/readyz", params={"verbose": 1}, headers=admin).json()
    snap = open_server.app.state.engine.loaded_snapshot
    assert details == {
        "status": "ready",
        "snapshot": snap.manifest.name,
        "vectors": snap.live_chunks,
        "backend": snap.manifest.backend,
        "index_type": snap.manifest.index_type,
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "dim": 384,
        "created_at": snap.manifest.created_at,
    }


def test_not_ready_until_an_index_is_loaded(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path / "empty")
    engine = Engine(settings, embedder=embedder)
    admin = {"Authorization": f"Bearer {TokenStore(engine.state).create('root', [], ['admin'])[1]}"}
    with serve(create_app(settings, engine=engine)) as url, httpx.Client(base_url=url) as c:
        assert c.get("/livez").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json() == {"status": "not ready"}
        verbose = c.get("/readyz", params={"verbose": "true"}, headers=admin)
        assert verbose.status_code == 503 and verbose.json() == {"status": "not ready", "reason": NO_INDEX}


UNIT_SUFFIXES = ("_seconds", "_bytes", "_ratio")
ALLOWED_LABELS = {"method", "route", "status", "tool", "outcome", "le"}


def test_metric_names_follow_the_prometheus_naming_guide(engine, index_home, tokens: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(index_home)
    with serve(create_app(settings, engine=engine)) as url, httpx.Client(base_url=url, timeout=60) as c:
        token = {"Authorization": f"Bearer {tokens['staff']}"}
        c.get("/search", params={"q": SECRET_WORDS}, headers=token)
        c.get("/documents/handbook:backups", headers=token)
        c.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=token)
        text = c.get(
            "/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"}
        ).text  # with index totals
    families = list(text_string_to_metric_families(text))
    names = {f.name for f in families}
    assert {
        "whoknows_http_requests",
        "whoknows_http_request_duration_seconds",
        "whoknows_index_vectors",
    } <= names
    for family in families:
        if family.name.startswith(("python_", "process_")):  # the client library's own, named by it
            continue
        assert re.fullmatch(r"whoknows_[a-z0-9_]+", family.name), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        if family.type == "histogram" or "time" in family.name or "age" in family.name:
            assert family.name.endswith(UNIT_SUFFIXES), f"{family.name} should name its unit"
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, (family.name, sample.labels)
            assert not any(w in v for v in sample.labels.values() for w in ("zanzibar", "handbook:"))
    routes = {s.labels["route"] for f in families if f.name == "whoknows_http_requests" for s in f.samples}
    assert {"/search", "/documents/{doc_id:path}", "/mcp"} <= routes


def test_request_ids_are_kept_when_plausible_and_made_otherwise(open_server: Running) -> None:
    with open_server.client() as c:
        assert c.get("/livez", headers={"X-Request-ID": "gw-7f3a.42"}).headers["x-request-id"] == "gw-7f3a.42"
        made = c.get("/livez", headers={"X-Request-ID": "not an id; " + "x" * 200}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        assert c.get("/livez").headers["x-request-id"] != c.get("/livez").headers["x-request-id"]


@pytest.mark.slow
def test_json_logs_have_request_ids_and_never_the_query_or_the_token(
    index_home: Path, tokens: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    env.update(WHOKNOWS_LOG_FORMAT="json", WHOKNOWS_RATE_LIMIT_PER_MINUTE="0", WHOKNOWS_ANONYMOUS="true")
    whoknows = Path(sys.executable).parent / "whoknows"
    command = [str(whoknows), "--home", str(index_home), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (tmp_path / "stderr.log").open("w+") as stderr:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(url + "/livez").status_code == 200:
                        break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.3)
            token = {"Authorization": f"Bearer {tokens['staff']}", "X-Request-ID": "trace-me-1"}
            assert httpx.get(url + "/search", params={"q": SECRET_WORDS}, headers=token).status_code == 200
            spoofed = {
                "X-Forwarded-User": "mallory",
                "X-Request-ID": "spoof-2",
            }  # not a trusted proxy: warned
            assert httpx.get(url + "/documents/handbook:backups", headers=spoofed).status_code == 200
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        stderr.seek(0)
        lines = [line for line in stderr.read().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = {r["request_id"]: r for r in records if r["logger"] == "whoknows.access"}
    search = access["trace-me-1"]
    assert search["route"] == "/search" and search["status"] == 200 and search["method"] == "GET"
    assert search["auth"] == "token" and search["level"] == "info" and search["duration_ms"] > 0
    assert (
        access["spoof-2"]["route"] == "/documents/{doc_id:path}" and access["spoof-2"]["auth"] == "anonymous"
    )
    [warning] = [r for r in records if r["level"] == "warning" and "not a trusted proxy" in r["message"]]
    assert warning["request_id"] == "spoof-2"  # lines logged while serving a request carry its id
    everything = "\n".join(lines)
    assert "zanzibar" not in everything and tokens["staff"] not in everything
    assert tokens["staff"].split("_", 2)[2] not in everything  # not even the secret part (which may hold "_")


@pytest.fixture()
def traced(index_home: Path, embedder) -> Iterator[tuple[str, InMemorySpanExporter, str]]:  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = settings_for(index_home, anonymous=False)
    engine = Engine(settings, embedder=embedder, tracer_provider=provider)
    token = TokenStore(engine.state).create("bob", ["staff"], ["search", "ask", "experts"])[1]
    with serve(create_app(settings, engine=engine)) as url:
        yield url, exporter, token


def finished(exporter: InMemorySpanExporter, servers: set[str]) -> tuple[ReadableSpan, ...]:
    """The finished spans once the server spans named have ended (a server span ends just after the
    response's last byte is sent, so the client can be a moment ahead)."""
    deadline = time.monotonic() + 10
    while not servers <= {s.name for s in exporter.get_finished_spans()}:
        assert time.monotonic() < deadline, [s.name for s in exporter.get_finished_spans()]
        time.sleep(0.02)
    return exporter.get_finished_spans()


def _by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> set[str]:
    return {s.name for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id}


def _ancestors(spans: tuple[ReadableSpan, ...], span: ReadableSpan) -> list[ReadableSpan]:
    by_id = {s.context.span_id: s for s in spans}
    out = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        out.append(span)
    return out


def test_a_span_per_request_and_per_retrieval_leg(traced: tuple[str, InMemorySpanExporter, str]) -> None:
    url, exporter, token = traced
    caller = {
        "Authorization": f"Bearer {token}",
        "traceparent": f"00-{TRACEPARENT_TRACE}-{TRACEPARENT_SPAN}-01",
    }
    with httpx.Client(base_url=url, timeout=60, headers=caller) as c:
        assert c.get("/search", params={"q": SECRET_WORDS}).status_code == 200
        assert c.post("/ask", json={"question": "How long are Postgres backups kept?"}).status_code == 200
    spans = finished(exporter, {"GET /search", "POST /ask"})
    [search] = _by_name(spans, "GET /search")
    assert search.kind == SpanKind.SERVER and format(search.context.trace_id, "032x") == TRACEPARENT_TRACE
    assert search.parent is not None and format(search.parent.span_id, "016x") == TRACEPARENT_SPAN
    assert search.attributes is not None and search.attributes["http.route"] == "/search"
    assert search.attributes["http.response.status_code"] == 200
    [retrieval] = [
        s for s in _by_name(spans, "retrieval") if s.parent and s.parent.span_id == search.context.span_id
    ]
    assert _children(spans, retrieval) == {
        "retrieval.keyword",
        "embed.query",
        "retrieval.dense",
        "retrieval.fuse",
    }
    assert retrieval.attributes is not None and retrieval.attributes["whoknows.retrieval.mode"] == "hybrid"
    for leg in ("retrieval.keyword", "retrieval.dense"):
        [span] = [
            s for s in _by_name(spans, leg) if s.parent and s.parent.span_id == retrieval.context.span_id
        ]
        assert span.attributes is not None and span.attributes["whoknows.retrieval.documents"] >= 1
    # /ask retrieves in worker threads, and its spans still hang under the request's
    [ask] = _by_name(spans, "POST /ask")
    under_ask = [s for s in _by_name(spans, "retrieval") if ask in _ancestors(spans, s)]
    assert len(under_ask) == 2  # the evidence, and the colleagues suggested with the answer
    for span in spans:  # never the query text in a span
        assert not any(
            "zanzibar" in str(v) or "Postgres backups kept" in str(v)
            for v in (span.attributes or {}).values()
        )


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: decodes the protobuf export requests it is sent."""

    received: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf":
            message = ExportTraceServiceRequest()
            message.ParseFromString(body)
            Collector.received.append(message)
            self.send_response(200)
        else:
            self.send_response(404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_traces_go_to_the_otlp_endpoint_when_it_is_set(index_home: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
        settings = settings_for(index_home, otel_endpoint=endpoint, otel_service_name="whoknows-test")
        engine = Engine(settings, embedder=embedder)
        with serve(create_app(settings, engine=engine)) as url:
            assert httpx.get(url + "/search", params={"q": "kubernetes node pools"}).status_code == 200
        assert engine.tracer_provider is not None and engine.tracer_provider.force_flush()  # type: ignore[attr-defined]
    finally:
        collector.shutdown()
    names = set()
    services = set()
    for request in Collector.received:
        for resource_spans in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            services.add(attrs["service.name"])
            names |= {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    assert services == {"whoknows-test"}
    assert {"GET /search", "retrieval", "retrieval.keyword", "retrieval.dense", "retrieval.fuse"} <= names


def test_tracing_asked_for_without_the_sdk_says_which_extra_to_install(
    index_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if the `otel` extra were absent
    with pytest.raises(TracingUnavailable, match=r"pip install 'whoknows\[otel\]'"):
        tracer_provider_from(settings_for(index_home, otel_endpoint="http://127.0.0.1:4318"))
    assert tracer_provider_from(settings_for(index_home)) is None  # unset: no tracing, no SDK needed


def test_json_log_lines_carry_errors_and_extras() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("the index folder vanished")
    except ValueError:
        record = logging.LogRecord(
            "whoknows.x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info()
        )
    record.route = "/search"
    RequestIdFilter().filter(record)
    line = json.loads(formatter.format(record))
    assert line["message"] == "failed once" and line["level"] == "error" and line["route"] == "/search"
    assert line["request_id"] is None and "ValueError: the index folder vanished" in line["error"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])


def test_a_bad_setting_is_an_error_naming_the_variable(index_home: Path) -> None:
    from typer.testing import CliRunner

    from service.cli.main import app

    result = CliRunner().invoke(
        app, ["--home", str(index_home), "status"], env={"WHOKNOWS_LOG_FORMAT": "xml"}
    )
    assert result.exit_code == 2
    assert "invalid WHOKNOWS_LOG_FORMAT: Input should be 'text' or 'json'" in result.output
