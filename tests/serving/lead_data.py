"""Store rows the lead's page and API read: calibration predictions, automated replies, feedback.

Messages go through the real ingestion; predictions and decisions are written as the service writes them.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one
from postroom.store.models import Message, Prediction, RoutingDecision

# Templated topic classes, their queue, and how often a prediction below `clean_above` is wrong (per unit of
# 1 - score): the first classes are clean enough to certify 0.95 at confidence 0.9, the last is not.
CALIBRATION_CLASSES: dict[str, tuple[str, float, float]] = {
    "account_statement": ("accounts", 0.55, 1.2),
    "card_replacement": ("cards", 0.60, 1.0),
    "tax_certificate": ("securities", 0.60, 1.5),
    "address_change": ("accounts", 0.90, 1.3),
    "standing_order": ("payments", 0.95, 1.6),
    "online_banking_access": ("accounts", 1.01, 2.0),
}
WRONG_TOPIC = "fee_complaint"


def seed_calibration(
    session: Session,
    model_version: str = "v0001",
    per_class: int = 120,
    classes: tuple[str, ...] | None = None,
    seed: int = 0,
) -> int:
    """Labeled messages and calibration predictions of `model_version` for topic and queue (committed);
    returns how many."""
    rng = np.random.default_rng(seed)
    count = 0
    for name in classes or tuple(CALIBRATION_CLASSES):
        queue, clean_above, slope = CALIBRATION_CLASSES[name]
        for i in range(per_class):
            score = float(rng.beta(4.0, 1.0))
            right = score >= clean_above or rng.random() >= min(1.0, (1.0 - score) * slope)
            queue_score = float(rng.uniform(0.55, 1.0))
            queue_right = queue_score > 0.7 or rng.random() < 0.6
            labels = {
                "topic": name if right else WRONG_TOPIC,
                "queue": queue if queue_right else "complaints",
            }
            result = ingest_one(
                session,
                IncomingMessage(
                    f"cal-{model_version}-{name}-{i}@example.org",
                    f"Calibration message {i} about {name.replace('_', ' ')}.",
                    "text",
                    "test",
                    subject=f"{name} {i}",
                    labels=labels,
                ),
            )
            session.flush()
            session.add(
                Prediction(
                    message_pk=result.message.id,
                    model_version=model_version,
                    variant="onnx-int8",
                    purpose="calibration",
                    results={
                        "topic": {"class": name, "probability": score},
                        "queue": {"class": queue, "probability": queue_score},
                    },
                )
            )
            count += 1
    session.commit()
    return count


def auto_replied(
    session: Session,
    message_id: str,
    reply_class: str,
    thresholds_version: int | None = None,
    body: str = "Bitte senden Sie mir die Unterlagen.",
) -> Message:
    """A stored message that the service answered automatically with `reply_class` (flushed)."""
    result = ingest_one(session, IncomingMessage(message_id, body, "text", "test", subject="Frage"))
    session.flush()
    prediction = Prediction(
        message_pk=result.message.id,
        model_version="v0001",
        variant="onnx-int8",
        results={"topic": {"class": reply_class, "probability": 0.97}},
    )
    session.add(prediction)
    session.flush()
    session.add(
        RoutingDecision(
            prediction_pk=prediction.id,
            message_pk=result.message.id,
            decision="auto_reply",
            queue="accounts",
            reply_class=reply_class,
            thresholds_version=thresholds_version,
            reasons={"reasons": [f"topic {reply_class} at 0.970 >= threshold"]},
        )
    )
    session.flush()
    return result.message
