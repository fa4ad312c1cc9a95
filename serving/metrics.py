"""Prometheus metrics of one app instance (its own registry, so tests can build many apps).

- `postroom_http_request_duration_seconds{endpoint,method,status}`: latency per route template
- `postroom_predictions_total{label_set,class}`, `postroom_routing_decisions_total{decision,queue}`
- `postroom_model_info{version,variant,provider}` = 1 for the model being served; `postroom_model_loaded`
- `postroom_model_batch_size`, `postroom_model_reloads_total{outcome}`, `postroom_unhandled_errors_total`
- `postroom_realized_precision{label_set,class}`, `postroom_realized_auto_replies{label_set,class}`: feedback
  over the rolling window; `postroom_feedback_total`, `postroom_auto_reply_suspensions_total{label_set,class}`
- `postroom_realized_label_accuracy{label_set}`, `postroom_realized_label_judged{label_set}`: the served
  model's predictions against closed cases' final classes over the rolling window (`router.outcomes`)

With several uvicorn workers each process has its own numbers; scale with pods of one worker each, or
aggregate per pod in Prometheus.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no `_created` series: they double the output and nobody here reads them

LATENCY_BUCKETS = (0.002, 0.004, 0.006, 0.008, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25,
                   0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "postroom_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "postroom_predictions",
            "Predictions by label set and predicted class.",
            ["label_set", "class"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "postroom_routing_decisions",
            "Routing decisions by outcome and queue.",
            ["decision", "queue"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "postroom_model_info",
            "The model being served (value 1).",
            ["version", "variant", "provider"],
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "postroom_model_loaded", "1 when a model is loaded.", registry=self.registry
        )
        self.batch_size = Histogram(
            "postroom_model_batch_size",
            "Texts per classify call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.second_look = Gauge(
            "postroom_int8_second_look_ratio",
            "Share of texts since the model loaded that int8 handed to its fp32 second look (near ties).",
            registry=self.registry,
        )
        self.replies_paused = Gauge(
            "postroom_auto_replies_paused",
            "1 while automated replies wait because the active thresholds were calibrated for another model "
            "than the one serving (set at classify calls and by the background refresh).",
            registry=self.registry,
        )
        self.unhandled = Counter(
            "postroom_unhandled_errors", "Requests that ended in an unexpected 500 (a bug).", ["endpoint"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "postroom_model_reloads", "Model loads by outcome.", ["outcome"], registry=self.registry
        )
        self.realized_precision = Gauge(
            "postroom_realized_precision",
            "Share of automated replies with feedback in the rolling window whose final class is the replied "
            "class.",
            ["label_set", "class"],
            registry=self.registry,
        )
        self.realized_replies = Gauge(
            "postroom_realized_auto_replies",
            "Automated replies with feedback in the rolling window (the evidence behind the precision).",
            ["label_set", "class"],
            registry=self.registry,
        )
        self.label_accuracy = Gauge(
            "postroom_realized_label_accuracy",
            "Share of the served model's predictions with feedback in the rolling window that equal the "
            "case's final class, by label set.",
            ["label_set"],
            registry=self.registry,
        )
        self.label_judged = Gauge(
            "postroom_realized_label_judged",
            "The served model's predictions with feedback in the rolling window (the evidence behind the "
            "accuracy), by label set.",
            ["label_set"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "postroom_feedback", "Feedback records received (closed cases).", registry=self.registry
        )
        self.suspensions = Counter(
            "postroom_auto_reply_suspensions",
            "Auto-replies switched off by the feedback monitor.",
            ["label_set", "class"],
            registry=self.registry,
        )

    def model_changed(self, old: tuple[str, str, str] | None, new: tuple[str, str, str] | None) -> None:
        if old is not None:
            self.model_info.remove(*old)
        if new is not None:
            self.model_info.labels(*new).set(1)
        self.model_loaded.set(1 if new is not None else 0)

    def realized_changed(self, label_set: str, per_class: Mapping[str, tuple[int, int]]) -> None:
        """Replace the realized-precision series with `{class: (automated replies, right)}`; classes without
        feedback in the window have none."""
        self.realized_precision.clear()
        self.realized_replies.clear()
        for class_name, (replies, correct) in per_class.items():
            if replies:
                self.realized_precision.labels(label_set, class_name).set(correct / replies)
                self.realized_replies.labels(label_set, class_name).set(replies)

    def outcomes_changed(self, per_set: Mapping[str, tuple[int, int]]) -> None:
        """Replace the served model's realized-accuracy series with `{label set: (judged, right)}`."""
        self.label_accuracy.clear()
        self.label_judged.clear()
        for label_set, (judged, right) in per_set.items():
            if judged:
                self.label_accuracy.labels(label_set).set(right / judged)
                self.label_judged.labels(label_set).set(judged)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
