"""OpenTelemetry traces, optional: a span per HTTP request (service/ops/requests.py) and per retrieval leg.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (spans then go to `<endpoint>/v1/traces` over OTLP/HTTP;
the `otel` extra brings the SDK and the exporter) or the caller passes a TracerProvider (tests pass one
with an in-memory exporter). Each Engine has its own provider: nothing is set globally, so two apps in
one process never mix their spans. Spans carry what an operator needs to see where the time goes
(route, status, mode, pool sizes, result counts), never the query text or who asked: traces are
shipped to other systems more often than logs are.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence

import numpy as np
from opentelemetry.trace import Tracer, TracerProvider

from index.acl import Principal
from index.retrieval.fusion import DocResult
from index.retrieval.hybrid import Filters, HybridRetriever, RetrievalSettings
from index.snapshot.snapshot import Snapshot
from index.store.documents import Store
from index.vectors.embedder import Embedder
from service.settings import Settings

TRACER_NAME = "whoknows"
OTLP_TRACES_PATH = "/v1/traces"  # what the OTLP spec appends to OTEL_EXPORTER_OTLP_ENDPOINT for traces


class TracingUnavailable(RuntimeError):
    """Tracing was asked for (OTEL_EXPORTER_OTLP_ENDPOINT) but the OpenTelemetry SDK is not installed."""


def tracer_provider_from(settings: Settings) -> TracerProvider | None:
    """An SDK provider exporting to `settings.otel_endpoint` in batches; None when tracing is off."""
    if not settings.otel_endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed; "
            "install the extra: pip install 'whoknows[otel]'"
        ) from exc
    version = importlib.metadata.version("whoknows")
    resource = Resource.create({"service.name": settings.otel_service_name, "service.version": version})
    provider = SdkTracerProvider(resource=resource)
    endpoint = settings.otel_endpoint.rstrip("/") + OTLP_TRACES_PATH
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


class TracedEmbedder:
    """An embedder whose query and passage embeddings each get a span."""

    def __init__(self, inner: Embedder, tracer: Tracer):
        self.inner = inner
        self.tracer = tracer
        self.model_name = inner.model_name
        self.backend = inner.backend
        self.dim = inner.dim

    def embed_query(self, text: str) -> np.ndarray:
        with self.tracer.start_as_current_span("embed.query"):
            return self.inner.embed_query(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self.tracer.start_as_current_span(
            "embed.passages", attributes={"whoknows.passages": len(texts)}
        ):
            return self.inner.embed_passages(texts)


class TracedRetriever(HybridRetriever):
    """The hybrid retriever with a span around a ranking and around each of its legs and the fusion.

    It changes no result: every method calls the retriever's own and only records sizes.
    """

    def __init__(
        self,
        store: Store | Callable[[], Store],
        snapshot: Callable[[], Snapshot | None],
        embedder: Embedder,
        settings: RetrievalSettings | None,
        tracer: Tracer,
    ):
        super().__init__(store, snapshot, TracedEmbedder(embedder, tracer), settings)
        self.tracer = tracer

    def rank(
        self,
        query: str,
        principal: Principal,
        mode: str = "hybrid",
        filters: Filters | None = None,
        depth: int | None = None,
    ) -> list[DocResult]:
        attributes: dict[str, str | int] = {
            "whoknows.retrieval.mode": mode,
            "whoknows.retrieval.depth": depth or self.settings.depth,
        }
        with self.tracer.start_as_current_span("retrieval", attributes=attributes) as span:
            ranked = super().rank(query, principal, mode, filters, depth)
            span.set_attribute("whoknows.retrieval.documents", len(ranked))
            return ranked

    def keyword_leg(self, query: str, principal: Principal, filters: Filters, pool: int) -> list[DocResult]:
        with self.tracer.start_as_current_span(
            "retrieval.keyword", attributes={"whoknows.pool": pool}
        ) as span:
            found = super().keyword_leg(query, principal, filters, pool)
            span.set_attribute("whoknows.retrieval.documents", len(found))
            return found

    def dense_leg(
        self, vector: np.ndarray, principal: Principal, filters: Filters, pool: int
    ) -> list[DocResult]:
        with self.tracer.start_as_current_span("retrieval.dense", attributes={"whoknows.pool": pool}) as span:
            found = super().dense_leg(vector, principal, filters, pool)
            span.set_attribute("whoknows.retrieval.documents", len(found))
            return found

    def fuse(self, keyword: list[DocResult], dense: list[DocResult], pool: int) -> list[DocResult]:
        with self.tracer.start_as_current_span("retrieval.fuse", attributes={"whoknows.pool": pool}):
            return super().fuse(keyword, dense, pool)
