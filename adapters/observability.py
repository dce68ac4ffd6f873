"""Metrics (Prometheus, through prometheus_client) and logs that are loud but not noisy.

Every process registers the same metric names; `serve` answers `GET /metrics`, the other
processes (relay, project, webhooks deliver) serve them on SWITCHLOG_METRICS_PORT.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar

from prometheus_client import Counter, Gauge, Histogram, start_http_server

EVENTS_APPENDED = Counter(
    "switchlog_events_appended_total", "Events appended to the store", ["type"]
)
COMMAND_DURATION = Histogram(
    "switchlog_command_duration_seconds",
    "Time to handle a command, from request to answer (read-your-writes wait included)",
    ["use_case"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROJECTION_LAG = Gauge(
    "switchlog_projection_lag_events", "Events a projection is behind the log", ["projection"]
)
RELAY_LAG = Gauge("switchlog_relay_lag_events", "Events not yet published to Kafka")
WEBHOOK_DELIVERIES = Counter(
    "switchlog_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, failed = will retry, dead = retries ran out)",
    ["outcome"],
)
STREAM_SUBSCRIBERS = Gauge("switchlog_stream_subscribers", "Live stream subscribers", ["channel"])
READ_YOUR_WRITES_TIMEOUTS = Counter(
    "switchlog_read_your_writes_timeouts_total",
    "Write answers that stopped waiting for their read model",
    ["read_model"],
)
STORE_TRANSACTIONS = Counter(
    "switchlog_store_transactions_total",
    "Append transactions committed to the event store (group commit shares one among writers)",
)
STORE_WRITES = Counter(
    "switchlog_store_writes_total",
    "Saves handed to the event store (one per command; several may share a transaction)",
)
STORE_GROUP_SIZE = Histogram(
    "switchlog_store_group_size",
    "Saves per committed append transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
LOOP_FAILURES = Counter(
    "switchlog_loop_failures_total",
    "Failed rounds of a background loop (relay, projector, webhook delivery, event hub)",
    ["loop"],
)


def serve_metrics(port: int | None, host: str) -> None:
    """Expose this process's metrics over HTTP when a port is configured.

    A busy port (two processes given the same one) is reported, not fatal: the process's
    work matters more than its metrics.
    """
    if port is None:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        logging.getLogger(__name__).error(
            "metrics are not served: cannot listen on %s:%d: %s", host, port, error
        )


# -- correlation ids in logs ------------------------------------------------------------
correlation: ContextVar[str] = ContextVar("switchlog_correlation", default="-")


class CorrelationFilter(logging.Filter):
    """Stamps each record with the correlation id of the request or event it is about."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# -- loud, once per distinct error per interval -----------------------------------------
class FailureLog:
    """Logs a loop's failures at WARNING with their cause, once per distinct error per
    interval (with how many were suppressed), and counts every one in the metrics."""

    def __init__(self, logger: logging.Logger, loop: str, interval: float = 60.0) -> None:
        self.logger = logger
        self.loop = loop
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def failed(self, what: str, error: BaseException) -> None:
        LOOP_FAILURES.labels(self.loop).inc()
        key = f"{what}|{type(error).__name__}: {error}"
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._last.get(key, (-self.interval, 0))
            if now - last < self.interval:
                self._last[key] = (last, suppressed + 1)
                return
            self._last[key] = (now, 0)
        more = f" ({suppressed} more like it since the last report)" if suppressed else ""
        self.logger.warning(
            "%s: %s failed: %s: %s%s",
            self.loop,
            what,
            type(error).__name__,
            error,
            more,
            exc_info=error if not suppressed else None,
        )
