"""The one place where serving asks the router what to do with a classified message.

`ActiveThresholdCache` reads the active thresholds (once per request; their values and learned confidence are
parsed again only when a newer version exists, since versions never change), and `route` calls
`router.decide.decide` with them. Before any calibration the router's
defaults apply: no class has an auto-reply threshold, every queue prediction is trusted, so every message goes
to a human in its predicted queue. Two cases never reach the router: a message without text after cleaning,
and a model that does not predict the label sets routing needs (or predicts classes the taxonomy lacks);
both go to the triage queue with the reason.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from postroom.taxonomy import Taxonomy, TaxonomyError
from router.confidence import ConfidenceModel
from router.decide import LabelPrediction, decide
from router.thresholds import ActiveThresholds, VersionKey, active_thresholds, active_version_key
from serving.runtime import SetPrediction


@dataclass(frozen=True)
class Routing:
    decision: Literal["auto_reply", "human"]
    queue: str
    reply_class: str | None = None
    reply: dict[str, str] | None = None  # language, subject, body
    thresholds_version: int | None = None
    reasons: list[str] = field(default_factory=list)

    def to_public(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "queue": self.queue,
            "reply_class": self.reply_class,
            "reply": self.reply,
            "thresholds_version": self.thresholds_version,
            "reasons": self.reasons,
        }


def learned_confidence(model: ConfidenceModel, taxonomy: Taxonomy, prediction: SetPrediction) -> float | None:
    """The learned confidence of one reply-set prediction; None when it carries no (usable) signals."""
    if prediction.signals is None or len(prediction.signals) != len(model.mean) - 1:
        return None
    index = taxonomy.label_set(prediction.label_set).class_names.index(prediction.class_name)
    return float(model.score_raw(np.array([prediction.signals]), np.array([index]))[0])


class ActiveThresholdCache:
    """The active thresholds for the service: the active version's key per call (its own small query, or read
    with the messages: `read_at`), the full version only when new.

    A version is immutable (a change writes a new one), so the parsed values and learned confidence of the
    newest version stay right until a newer one appears: its number and creation time say when.
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._lock = threading.Lock()
        self._cached: ActiveThresholds | None = None

    def read(self, session: Session) -> ActiveThresholds:
        """The active version's thresholds (raises `ThresholdError` for an unreadable confidence model)."""
        return self.read_at(session, active_version_key(session))

    def read_at(self, session: Session, key: VersionKey | None) -> ActiveThresholds:
        """`read` where the active version's key was already read (`active_version_key_columns`, beside the
        messages): the full version is read only when it is not the one held."""
        cached = self._cached
        if cached is not None and _key(cached) == key:
            return cached
        fresh = active_thresholds(session, self.taxonomy)
        with self._lock:
            if self._cached is None or (fresh.version or 0) >= (self._cached.version or 0):
                self._cached = fresh
        return fresh


def _key(thresholds: ActiveThresholds) -> tuple[int, Any] | None:
    if thresholds.version is None:
        return None
    return (thresholds.version, thresholds.created_at)


def _triage(taxonomy: Taxonomy, reason: str) -> Routing:
    return Routing("human", taxonomy.routing.triage_queue, reasons=[reason])


def route(
    thresholds: ActiveThresholds,
    taxonomy: Taxonomy,
    predictions: Mapping[str, SetPrediction],
    language: str | None,
    has_text: bool = True,
    paused: str | None = None,
) -> Routing:
    """Decide for one classified message with these thresholds (`ActiveThresholdCache.read_at`); `paused`
    (`ActiveThresholds.replies_paused` of the served model, once per call) withholds automated replies."""
    if not has_text:
        return _triage(taxonomy, "the message has no text after cleaning: triage")
    needed = {taxonomy.routing.queue_set, taxonomy.routing.reply_set}
    missing = sorted(needed - set(predictions))
    if missing:
        return _triage(taxonomy, f"the model predicts no {', '.join(missing)}: triage")
    known = {name: p for name, p in predictions.items() if name in taxonomy.set_names}
    version, values, model = thresholds.version, thresholds.values, thresholds.confidence
    try:
        labels = {name: LabelPrediction(p.class_name, p.probability) for name, p in known.items()}
        if model is not None:
            reply_set = taxonomy.routing.reply_set
            labels[reply_set] = replace(
                labels[reply_set], confidence=learned_confidence(model, taxonomy, known[reply_set])
            )
        decision = decide(labels, values, version, taxonomy, language, model is not None, paused)
    except TaxonomyError as exc:  # a model trained on another taxonomy
        return _triage(taxonomy, f"the prediction does not fit the taxonomy ({exc}): triage")
    reply = None
    if decision.reply is not None:
        reply = {
            "language": decision.reply.language,
            "subject": decision.reply.subject,
            "body": decision.reply.body,
        }
    return Routing(
        decision.decision,
        decision.queue,
        decision.reply_class,
        reply,
        decision.thresholds_version,
        list(decision.reasons),
    )
