"""The one place where serving asks the router what to do with a classified message.

`route` reads the active thresholds and calls `router.decide.decide`. Before any calibration the router's
defaults apply: no class has an auto-reply threshold, every queue prediction is trusted, so every message goes
to a human in its predicted queue. Two cases never reach the router: a message without text after cleaning,
and a model that does not predict the label sets routing needs (or predicts classes the taxonomy lacks);
both go to the triage queue with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from postroom.taxonomy import Taxonomy, TaxonomyError
from router.decide import LabelPrediction, decide
from router.thresholds import active_values
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


def _triage(taxonomy: Taxonomy, reason: str) -> Routing:
    return Routing("human", taxonomy.routing.triage_queue, reasons=[reason])


def route(
    session: Session,
    taxonomy: Taxonomy,
    predictions: Mapping[str, SetPrediction],
    language: str | None,
    has_text: bool = True,
) -> Routing:
    """Decide for one classified message (reads the active thresholds through `session`)."""
    if not has_text:
        return _triage(taxonomy, "the message has no text after cleaning: triage")
    needed = {taxonomy.routing.queue_set, taxonomy.routing.reply_set}
    missing = sorted(needed - set(predictions))
    if missing:
        return _triage(taxonomy, f"the model predicts no {', '.join(missing)}: triage")
    known = {name: p for name, p in predictions.items() if name in taxonomy.set_names}
    version, values = active_values(session, taxonomy)
    try:
        decision = decide(
            {name: LabelPrediction(p.class_name, p.probability) for name, p in known.items()},
            values,
            version,
            taxonomy,
            language,
        )
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
