"""The routing decision for one classified message: an automated reply, or a human queue.

`auto_reply` needs all of: the predicted reply-set class (topic) has a template in the message's language,
its threshold is set (not None) and the score is at or above it (the probability, or the learned confidence
when the active thresholds were certified on it: `router.confidence`), and no predicted class of any label
set vetoes automated replies (`auto_reply_allowed: false`). Otherwise `human`: the predicted queue, or the
triage queue when the queue prediction is below its threshold. Every decision lists its reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from postroom.taxonomy import Taxonomy
from router.templates import RenderedReply, render_reply
from router.thresholds import Values


@dataclass(frozen=True)
class LabelPrediction:
    class_name: str
    probability: float
    confidence: float | None = None  # the learned confidence, when the active thresholds use one


@dataclass(frozen=True)
class Decision:
    decision: Literal["auto_reply", "human"]
    queue: str  # where the case goes (for an auto-reply: where a follow-up goes)
    reply_class: str | None
    reply: RenderedReply | None
    thresholds_version: int | None
    reasons: list[str] = field(default_factory=list)


def _human_queue(
    predictions: Mapping[str, LabelPrediction], values: Values, taxonomy: Taxonomy
) -> tuple[str, str]:
    queue_set = taxonomy.routing.queue_set
    queue = predictions[queue_set]
    threshold = values.get(queue_set, {}).get(queue.class_name)
    if threshold is not None and queue.probability < threshold:
        return taxonomy.routing.triage_queue, (
            f"{queue_set} {queue.class_name} at {queue.probability:.3f} is below its threshold "
            f"{threshold:.3f}: triage"
        )
    return queue.class_name, f"{queue_set} {queue.class_name} at {queue.probability:.3f}"


def answerable(taxonomy: Taxonomy, classes: Mapping[str, str], language: str | None) -> bool:
    """Whether a message predicted as `classes` (label set -> class) in `language` could get its reply-set
    class's automated reply at all, whatever the threshold: the class has a template in that language and no
    other predicted class vetoes replies. The rules `decide` applies besides the threshold (a test checks
    they agree); calibration certifies only the messages that pass them (`router.calibration_data`)."""
    reply_set = taxonomy.routing.reply_set
    class_def = taxonomy.label_set(reply_set).get(classes[reply_set])
    if not class_def.auto_reply or language is None or render_reply(taxonomy, class_def, language) is None:
        return False
    return all(
        taxonomy.label_set(name).get(name_class).auto_reply_allowed
        for name, name_class in classes.items()
        if name != reply_set and name in taxonomy.set_names
    )


def decide(
    predictions: Mapping[str, LabelPrediction],
    values: Values,
    thresholds_version: int | None,
    taxonomy: Taxonomy,
    language: str | None,
    learned: bool = False,
    paused: str | None = None,
) -> Decision:
    """Decide for one message. `predictions` has one entry per label set of the taxonomy; with `learned`,
    the reply set's thresholds compare its learned confidence instead of its probability; `paused` (a
    reason, `ActiveThresholds.replies_paused`) withholds every automated reply."""
    reply_set = taxonomy.routing.reply_set
    topic = predictions[reply_set]
    score_name = "learned confidence" if learned else "probability"
    score = topic.confidence if learned else topic.probability
    class_def = taxonomy.label_set(reply_set).get(topic.class_name)
    queue, queue_reason = _human_queue(predictions, values, taxonomy)
    threshold = values.get(reply_set, {}).get(topic.class_name)
    blockers: list[str] = [paused] if paused else []
    if not class_def.auto_reply:
        blockers.append(f"{reply_set} {topic.class_name} has no auto-reply template")
    elif threshold is None:
        blockers.append(f"auto-reply for {reply_set} {topic.class_name} is off (no certified threshold)")
    elif score is None:
        blockers.append(
            f"the thresholds compare a learned confidence the served model does not give (export it with "
            f"evidence): no automated reply for {reply_set} {topic.class_name}"
        )
    elif score < threshold:
        blockers.append(
            f"{reply_set} {topic.class_name} {score_name} {score:.3f} is below its threshold {threshold:.3f}"
        )
    for set_name, prediction in predictions.items():
        if (
            set_name != reply_set
            and not taxonomy.label_set(set_name).get(prediction.class_name).auto_reply_allowed
        ):
            blockers.append(f"{set_name} {prediction.class_name} does not allow automated replies")
    reply = None
    if not blockers:
        if language is None:
            blockers.append("the message's language is unknown")
        else:
            reply = render_reply(taxonomy, class_def, language)
            if reply is None:
                blockers.append(f"no {reply_set} {topic.class_name} template in language {language!r}")
    if blockers:
        return Decision("human", queue, None, None, thresholds_version, [*blockers, queue_reason])
    reason = f"{reply_set} {topic.class_name} {score_name} {score:.3f} >= threshold {threshold:.3f}"
    return Decision("auto_reply", queue, topic.class_name, reply, thresholds_version, [reason, queue_reason])
