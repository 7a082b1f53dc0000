"""Prometheus metrics of one app, in its own registry (two apps in one process do not mix their counts).

    aekit_requests_total{model, operation, status}     requests answered, by HTTP status
    aekit_request_errors_total{model, status}          refused or failed requests (status >= 400)
    aekit_request_seconds{model, operation}            latency histogram, every request, from its start to the answer
    aekit_batch_rows{model, operation}                 rows per forward pass (micro-batching at work: > 1)
    aekit_batch_requests{model, operation}             requests per forward pass
    aekit_requests_in_flight                           requests being answered now

Names a request makes up (an unknown model or operation) are counted under ``model=""`` / ``operation=""``,
so that no request can grow the number of series.
"""
from __future__ import annotations

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("aekit_requests", "Requests answered, by HTTP status",
                                ["model", "operation", "status"], registry=r)
        self.errors = Counter("aekit_request_errors", "Refused or failed requests (HTTP status >= 400)",
                              ["model", "status"], registry=r)
        self.latency = Histogram("aekit_request_seconds", "Time from a request's body to its answer",
                                 ["model", "operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_rows = Histogram("aekit_batch_rows", "Rows per forward pass", ["model", "operation"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_requests = Histogram("aekit_batch_requests", "Requests per forward pass", ["model", "operation"],
                                        buckets=BATCH_BUCKETS, registry=r)
        self.in_flight = Gauge("aekit_requests_in_flight", "Requests being answered now", registry=r)

    def answered(self, model: str, operation: str, status: int, seconds: float) -> None:
        self.requests.labels(model, operation, str(status)).inc()
        self.latency.labels(model, operation).observe(seconds)
        if status >= 400:
            self.errors.labels(model, str(status)).inc()

    def batch(self, model: str, operation: str, rows: int, requests: int) -> None:
        self.batch_rows.labels(model, operation).observe(rows)
        self.batch_requests.labels(model, operation).observe(requests)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
