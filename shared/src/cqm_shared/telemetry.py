"""OpenTelemetry setup and W3C trace-context helpers.

The trace context travels inside each CloudEvent (`traceparent` extension) and in the AMQP
headers, so one trace spans HTTP request -> outbox -> broker -> consumer -> next service.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_span_files: list[IO[str]] = []


def _one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def setup_tracing(
    service_name: str, *, otlp_endpoint: str | None = None, traces_file: Path | None = None
) -> TracerProvider:
    """A tracer provider for this process; exporters: OTLP/HTTP and/or a JSON-lines file."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if traces_file is not None:
        traces_file.parent.mkdir(parents=True, exist_ok=True)
        out = traces_file.open("a", encoding="utf-8", buffering=1)
        _span_files.append(out)
        # Simple (synchronous) processor: every ended span is on disk at once.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_one_line)))
    trace.set_tracer_provider(provider)
    return provider


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})
