"""The gateway's Prometheus metrics, in a registry of its own (passed in, never global)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "causerie_gateway_request_seconds",
            "Request duration, to the last byte sent, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_byte = Histogram(
            "causerie_gateway_first_audio_seconds",
            "Speech: request received to first audio byte ready.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rtf = Histogram(
            "causerie_gateway_real_time_factor",
            "Processing time / audio duration, by endpoint (transcriptions, speech).",
            ["endpoint"],
            buckets=_RTF_BUCKETS,
            registry=r,
        )
        self.audio_seconds = Counter(
            "causerie_gateway_audio_seconds",
            "Seconds of audio transcribed or synthesized, by endpoint.",
            ["endpoint"],
            registry=r,
        )
        self.errors = Counter(
            "causerie_gateway_errors",
            "Requests answered with an error, by endpoint, HTTP status and error code.",
            ["endpoint", "status", "code"],
            registry=r,
        )
        self.in_flight = Gauge(
            "causerie_gateway_in_flight",
            "Requests being served (streams included), by endpoint.",
            ["endpoint"],
            registry=r,
        )

    def error(self, endpoint: str, status: int, code: str) -> None:
        self.errors.labels(endpoint=endpoint, status=str(status), code=code).inc()
