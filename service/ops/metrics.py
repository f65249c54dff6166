"""Prometheus metrics, one CollectorRegistry per app: requests by route template, MCP tool calls, index
size and age. Names follow Prometheus' naming guide: a `whoknows_` prefix, base units in the name
(`_seconds`), `_total` on counters, and labels of bounded values only (never a user, a query or a path);
tests/service/test_ops_conventions.py checks every exposed name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Scope

from index.state.runs import RunLog
from service.engine import Engine

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


class IndexCollector(Collector):
    """Index size and freshness, read at scrape time from the store and the loaded snapshot."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        counts = self.engine.reader.counts()
        for name in ("documents", "chunks", "people"):
            yield GaugeMetricFamily(f"whoknows_index_{name}", f"{name} in the store", value=counts[name])
        snap = self.engine.loaded_snapshot
        yield GaugeMetricFamily(
            "whoknows_index_vectors",
            "vectors in the snapshot being served",
            value=snap.live_chunks if snap else 0,
        )
        yield GaugeMetricFamily(
            "whoknows_index_loaded", "1 when a vector snapshot is loaded and serving", value=1 if snap else 0
        )
        created = _timestamp(snap.manifest.created_at) if snap else None
        if created is not None:
            yield GaugeMetricFamily(
                "whoknows_index_age_seconds",
                "seconds since the served snapshot was built",
                value=time.time() - created,
            )
        finished = _timestamp(RunLog(self.engine.state).last_finished_at())
        if finished is not None:
            yield GaugeMetricFamily(
                "whoknows_last_reindex_timestamp_seconds",
                "when the last ingest or reindex finished (unix time)",
                value=finished,
            )


class RequestsOnly(Collector):
    """The registry's request metrics without the index's: what /metrics shows without the admin scope
    (WHOKNOWS_METRICS_PUBLIC=true). Index sizes count restricted documents, and the snapshot's age tells
    when restricted content last changed."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            if family.name.startswith("whoknows_http_"):
                yield family


class Metrics:
    """The app's registry and its request instruments; `public` is the part anyone may scrape."""

    def __init__(self, engine: Engine):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "whoknows_http_requests",
            "HTTP requests by route template",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "whoknows_http_request_duration_seconds",
            "time to the last byte of the response by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "whoknows_mcp_tool_calls",
            "MCP tool calls by tool and outcome (ok, error)",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.registry.register(IndexCollector(engine))
        self.public = RequestsOnly(self.registry)


def route_label(scope: Scope) -> str:
    """The route template ('/documents/{doc_id:path}'), never the raw path: bounded label values."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("endpoint") is not None and not scope.get("path_params"):
        return str(scope.get("path", "<other>"))  # fixed-path Starlette routes: /docs, /openapi.json
    if scope.get("app_root_path") is not None and scope.get("root_path", "").endswith("/static"):
        return "/static"
    return "<unmatched>"
