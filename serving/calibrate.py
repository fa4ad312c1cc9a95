"""`postroom calibrate`: the served ONNX variant's predictions on held-out labeled messages, for thresholds.

Thresholds must be calibrated on the variant actually served (an int8 graph's probabilities differ from the
PyTorch model's), on labeled messages the model never trained on. This classifies a stratified share of
the version's held-out messages in-process with the same runtime the service uses, one message per run as
the service scores a lone request, one message per near-copy group (the rest of a group stays out of both
halves), and stores each prediction with purpose `calibration`; `postroom
thresholds suggest --model-version V` reads them back. The rest of the held-out messages stay unseen by the
thresholds, for `postroom classify-heldout` to measure the routing on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from postroom.errors import PostroomError
from postroom.settings import Settings
from postroom.store import get_engine, session_factory
from postroom.store.models import PURPOSE_CALIBRATION, Message, Prediction, utcnow
from postroom.taxonomy import Taxonomy
from serving.heldout import (
    calibration_split,
    current_labels,
    heldout_ids,
    near_copy_groups,
    one_per_group,
)
from serving.lifecycle import build_classifier, resolve_source
from training.registry import Registry


@dataclass
class CalibrationRun:
    """What `calibrate` stored: per label set, how many calibration messages and how many predicted right."""

    version: str
    variant: str
    provider: str
    stored: int
    held_out: int
    skipped_unlabeled: int
    copies_left_out: int = 0  # near-copies of a calibration message: a group calibrates once
    correct: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "variant": self.variant,
            "provider": self.provider,
            "stored": self.stored,
            "held_out": self.held_out,
            "skipped_unlabeled": self.skipped_unlabeled,
            "copies_left_out": self.copies_left_out,
            "accuracy": {
                name: {"correct": c, "n": n, "accuracy": c / n if n else 0.0}
                for name, (c, n) in self.correct.items()
            },
        }


def calibrate(
    settings: Settings,
    taxonomy: Taxonomy,
    model: str,
    fraction: float,
    log: Callable[[str], None] = lambda _m: None,
) -> CalibrationRun:
    """Classify `fraction` of `model`'s held-out messages with the served variant; store the predictions.

    Raises:
        PostroomError: no held-out messages, none of them labeled, or a bad fraction.
        ModelUnavailable: the version has no export (or no published variant).
    """
    source = resolve_source(settings.registry_dir, model)
    version_dir = Registry(settings.registry_dir).get(source.version).path
    ids = heldout_ids(version_dir)
    if not ids:
        raise PostroomError(f"{source.version} has no held-out messages to calibrate on")
    engine = get_engine(settings.database_url)
    with session_factory(engine)() as session:
        truth = current_labels(session, ids)
        labeled = [i for i in ids if truth.get(i)]
        if not labeled:
            raise PostroomError(f"none of the {len(ids)} held-out messages of {source.version} has a label")
        reply_set = taxonomy.routing.reply_set
        strata = {i: truth[i].get(reply_set, "") for i in labeled}
        groups = near_copy_groups(version_dir)
        if groups is None:
            log(
                f"{source.version} records no near-copy groups (trained before they were recorded): its "
                "near-copies may fall on both sides and count as separate messages; retrain to keep them "
                "together"
            )
            groups = []
        split, _rest = calibration_split(labeled, strata, fraction, groups)
        chosen = one_per_group(split, groups)
        if not chosen:
            grouped = " (near-copies count as one message, and a class that is one group calibrates none)"
            raise PostroomError(
                f"a calibration fraction of {fraction} of {len(labeled)} held-out messages selects none"
                + (grouped if groups else "")
            )
        messages = {
            m.message_id: m for m in session.scalars(select(Message).where(Message.message_id.in_(chosen)))
        }
        classifier = build_classifier(source, settings)
        copies = len(split) - len(chosen)
        log(
            f"calibrating {source.version} ({classifier.variant} on {classifier.provider}) on "
            f"{len(chosen)} of {len(labeled)} held-out messages"
            + (f" ({copies} near-copies of them left out)" if copies else "")
        )
        ordered = [messages[i] for i in chosen if i in messages]
        # One message per call, as the router's request. A message scores the same in any run (int8 is
        # quantised per token, checked by the export's gate; older exports' int8 rows run alone:
        # `postroom.runs.shares_runs`); this keeps calibration right whatever the runtime does.
        predictions = [classifier.predict([m.model_text])[0] for m in ordered]
        run = CalibrationRun(
            source.version,
            classifier.variant,
            classifier.provider,
            stored=len(ordered),
            held_out=len(ids),
            skipped_unlabeled=len(ids) - len(labeled),
            copies_left_out=copies,
        )
        now = utcnow()
        for message, prediction in zip(ordered, predictions, strict=True):
            session.add(
                Prediction(
                    message_pk=message.id,
                    model_version=source.version,
                    variant=f"onnx-{classifier.variant}",
                    purpose=PURPOSE_CALIBRATION,
                    results={name: p.to_record() for name, p in prediction.items()},
                    created_at=now,
                )
            )
            for name, p in prediction.items():
                expected = truth[message.message_id].get(name)
                if expected is not None:
                    correct, n = run.correct.get(name, (0, 0))
                    run.correct[name] = (correct + (p.class_name == expected), n + 1)
        session.commit()
    return run
