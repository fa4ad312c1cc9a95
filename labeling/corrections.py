"""Agent corrections from the feedback loop, to be reviewed by an expert in Doccano.

A correction is closed-case feedback whose final labels differ from what the model predicted for that
routing decision (or, without a decision, from the message's current labels). The agent's labels go into
the example's `suggestion` metadata; the expert labels the example as usual and pull imports that.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.models import Feedback, Label, Message, Prediction, RoutingDecision
from postroom.taxonomy import Taxonomy


def _predicted(session: Session, feedback: Feedback) -> dict[str, str]:
    if feedback.decision_pk is not None:
        decision = session.get(RoutingDecision, feedback.decision_pk)
        prediction = session.get(Prediction, decision.prediction_pk) if decision else None
        if prediction is not None:
            return {
                s: str(r.get("class")) for s, r in (prediction.results or {}).items() if isinstance(r, dict)
            }
    labels = session.scalars(
        select(Label).where(Label.message_pk == feedback.message_pk, Label.is_current.is_(True))
    )
    return {label.label_set: label.class_name for label in labels}


def corrections_to_review(session: Session, taxonomy: Taxonomy) -> dict[str, str]:
    """message_id -> suggestion text (`queue:cards, topic:… (agent x)`) for every correction, newest wins."""
    found: dict[str, str] = {}
    for feedback in session.scalars(select(Feedback).order_by(Feedback.id)):
        final = {
            s: c
            for s, c in (feedback.final_labels or {}).items()
            if s in taxonomy.set_names and c in taxonomy.label_set(s).class_names
        }
        predicted = _predicted(session, feedback)
        differs = {s: c for s, c in final.items() if predicted.get(s) != c}
        if not differs:
            continue
        message_id = session.scalar(select(Message.message_id).where(Message.id == feedback.message_pk))
        if message_id is None:
            continue
        shown = ", ".join(f"{taxonomy.label_set(s).label_prefix}:{c}" for s, c in final.items())
        found[message_id] = f"{shown} (agent {feedback.agent or 'unknown'})"
    return found
