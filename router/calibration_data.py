"""Calibration data from the store: predictions made for calibration, joined with current labels.

The serving side classifies held-out labeled messages with the exported variant it serves and stores those
predictions with `purpose = PURPOSE_CALIBRATION`; this module reads them back (the newest per message).
Prediction results have the shape `{label_set: {"class": str, "probability": float, ...}}`.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.models import PURPOSE_CALIBRATION, Label, Prediction
from postroom.taxonomy import Taxonomy
from router.errors import ThresholdError
from router.suggest import CalibrationExamples


def load_calibration(
    session: Session, taxonomy: Taxonomy, model_version: str
) -> dict[str, CalibrationExamples]:
    """Per label set: predicted class, probability and true class of every calibration message."""
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
    labels = session.execute(
        select(Label.message_pk, Label.label_set, Label.class_name).where(
            Label.is_current.is_(True), Label.message_pk.in_(list(newest))
        )
    ).all()
    truth: dict[int, dict[str, str]] = {}
    for message_pk, set_name, class_name in labels:
        truth.setdefault(message_pk, {})[set_name] = class_name
    result = {}
    for set_name in taxonomy.set_names:
        predicted, scores, true, signals = [], [], [], []
        for message_pk, prediction in newest.items():
            entry = prediction.results.get(set_name)
            label = truth.get(message_pk, {}).get(set_name)
            if entry is None or label is None:
                continue
            predicted.append(entry["class"])
            scores.append(float(entry["probability"]))
            true.append(label)
            signals.append(entry.get("signals"))
        if predicted:
            complete = all(s is not None and len(s) == len(signals[0]) for s in signals)
            result[set_name] = CalibrationExamples(
                predicted, np.array(scores), true, np.array(signals, dtype=float) if complete else None
            )
    return result


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
