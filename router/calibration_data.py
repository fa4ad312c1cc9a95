"""Calibration data from the store: predictions made for calibration, joined with current labels.

The serving side classifies held-out labeled messages with the exported variant it serves and stores those
predictions with `purpose = PURPOSE_CALIBRATION`; this module reads them back (the newest per message).
Prediction results have the shape `{label_set: {"class": str, "probability": float, ...}}`.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.models import PURPOSE_CALIBRATION, Label, Message, Prediction
from postroom.taxonomy import Taxonomy
from router.decide import answerable
from router.errors import ThresholdError
from router.suggest import CalibrationExamples

# The reply-set "prediction" of a calibration message no threshold would answer (another predicted class
# vetoes replies, or its language has no template): certifying counts it as never answered, so the promise
# is about the replies actually sent. Not a class name (names have no spaces or brackets).
NEVER_ANSWERED = "(never answered)"


def load_calibration(
    session: Session, taxonomy: Taxonomy, model_version: str
) -> dict[str, CalibrationExamples]:
    """Per label set: predicted class, probability and true class of every calibration message; in the
    reply set a templated prediction that no threshold would answer is `NEVER_ANSWERED`."""
    predictions = session.scalars(
        select(Prediction)
        .where(Prediction.model_version == model_version, Prediction.purpose == PURPOSE_CALIBRATION)
        .order_by(Prediction.id)
    ).all()
    newest = {p.message_pk: p for p in predictions}
    if not newest:
        raise ThresholdError(
            f"no calibration predictions for model version {model_version!r}: "
            "run `postroom calibrate --model VERSION` first"
        )
    languages = dict(
        session.execute(select(Message.id, Message.language).where(Message.id.in_(list(newest)))).all()
    )
    labels = session.execute(
        select(Label.message_pk, Label.label_set, Label.class_name).where(
            Label.is_current.is_(True), Label.message_pk.in_(list(newest))
        )
    ).all()
    truth: dict[int, dict[str, str]] = {}
    for message_pk, set_name, class_name in labels:
        truth.setdefault(message_pk, {})[set_name] = class_name
    result = {}
    reply_set = taxonomy.routing.reply_set
    for set_name in taxonomy.set_names:
        predicted, scores, true, signals = [], [], [], []
        for message_pk, prediction in newest.items():
            entry = prediction.results.get(set_name)
            label = truth.get(message_pk, {}).get(set_name)
            if entry is None or label is None:
                continue
            never = set_name == reply_set and _never_answered(taxonomy, prediction, languages.get(message_pk))
            predicted.append(NEVER_ANSWERED if never else entry["class"])
            scores.append(float(entry["probability"]))
            true.append(label)
            signals.append(entry.get("signals"))
        if predicted:
            complete = all(s is not None and len(s) == len(signals[0]) for s in signals)
            result[set_name] = CalibrationExamples(
                predicted, np.array(scores), true, np.array(signals, dtype=float) if complete else None
            )
    return result


def _never_answered(taxonomy: Taxonomy, prediction: Prediction, language: str | None) -> bool:
    """A templated reply-set prediction that no threshold would answer: another predicted class vetoes
    replies (`auto_reply_allowed: false`), or the message's language is unknown or has no template."""
    classes = {
        name: entry["class"]
        for name, entry in prediction.results.items()
        if isinstance(entry, dict) and name in taxonomy.set_names
        and entry.get("class") in taxonomy.label_set(name).class_names
    }
    reply_set = taxonomy.routing.reply_set
    if reply_set not in classes or not taxonomy.label_set(reply_set).get(classes[reply_set]).auto_reply:
        return False  # no template: never answered anyway, and reported as such under its class
    return not answerable(taxonomy, classes, language)


def newest_calibrated_version(session: Session) -> str:
    """The model version of the newest calibration prediction (what `thresholds suggest` uses by default)."""
    version = session.scalars(
        select(Prediction.model_version)
        .where(Prediction.purpose == PURPOSE_CALIBRATION)
        .order_by(Prediction.id.desc())
        .limit(1)
    ).first()
    if version is None:
        raise ThresholdError(
            "no calibration predictions in the store: run `postroom calibrate --model VERSION` first"
        )
    return version
