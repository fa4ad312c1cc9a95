"""How routed messages turned out: closed cases' final labels against what was served (`postroom outcomes`).

The held-out score says how a model did on the labeled messages it was trained beside; the feedback says how
it does on today's mail. For the decisions with feedback in a rolling window, per model version that made
them: the share of each label set's predictions that equal the case's final class (with a 95 % exact
interval), and per queue the messages sent there (automated replies were sent to none), how many belonged
there and where the others went (the triage queue's show where unsure messages belonged). Each decision
counts once per label set, with its latest feedback that names the set (a CRM retry or correction replaces,
as for realized precision).

Feedback comes from closed cases only, so the figures describe the mail that got feedback, not all mail.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postroom.store.models import Feedback, Prediction, RoutingDecision, iso_utc, utcnow
from postroom.taxonomy import Taxonomy
from router.bounds import error_rate_upper_bound

INTERVAL_DELTA = 0.025  # each side of the 95 % interval
FEW_CASES = 30  # below this many judged predictions a figure is flagged as resting on few cases


@dataclass(frozen=True)
class SetAccuracy:
    """One label set's served predictions that got feedback naming the set."""

    label_set: str
    judged: int
    right: int

    @property
    def accuracy(self) -> float | None:
        return self.right / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % Clopper-Pearson interval of the accuracy (None without cases)."""
        if not self.judged:
            return None
        wrong = self.judged - self.right
        return (
            1.0 - error_rate_upper_bound(wrong, self.judged, INTERVAL_DELTA),
            error_rate_upper_bound(self.right, self.judged, INTERVAL_DELTA),
        )


@dataclass(frozen=True)
class QueueOutcome:
    """Messages a model sent to one queue (of the queue set, or triage), judged by their final queue."""

    queue: str
    sent: int
    belonged: int | None  # final queue == this queue (None for triage: it is no final class)
    went_to: dict[str, int] = field(default_factory=dict)  # final queue -> messages, the others

    @property
    def share(self) -> float | None:
        return self.belonged / self.sent if self.sent and self.belonged is not None else None


@dataclass(frozen=True)
class ModelOutcomes:
    model_version: str
    label_sets: list[SetAccuracy]
    queues: list[QueueOutcome]
    auto_replied: int = 0  # automated replies with a final queue: in no queue's row (sent to none)


@dataclass(frozen=True)
class Outcomes:
    window_days: int
    since: datetime
    triage_queue: str
    models: list[ModelOutcomes]  # newest first (by its newest judged decision)

    def judged_of(self, model_version: str) -> dict[str, tuple[int, int]]:
        """`{label set: (judged, right)}` of one model's predictions (empty without feedback)."""
        return {
            s.label_set: (s.judged, s.right)
            for m in self.models
            if m.model_version == model_version
            for s in m.label_sets
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "since": iso_utc(self.since),  # as the API writes it
            "triage_queue": self.triage_queue,
            "few_cases": FEW_CASES,
            "models": [
                {
                    "model_version": m.model_version,
                    "label_sets": [
                        {
                            "label_set": s.label_set,
                            "judged": s.judged,
                            "right": s.right,
                            "accuracy": s.accuracy,
                            "interval": list(s.interval) if s.interval else None,
                        }
                        for s in m.label_sets
                    ],
                    "queues": [
                        {"queue": q.queue, "sent": q.sent, "belonged": q.belonged, "share": q.share,
                         "went_to": q.went_to}
                        for q in m.queues
                    ],
                    "auto_replied": m.auto_replied,
                }
                for m in self.models
            ],
        }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def routing_outcomes(
    session: Session,
    taxonomy: Taxonomy,
    window_days: int = 30,
    now: datetime | None = None,
    model_version: str | None = None,
) -> Outcomes:
    """The outcomes of the decisions with feedback received in the last `window_days` days (of one model's
    decisions only, with `model_version`). The classes are read out of the JSON columns by the database:
    decoding every prediction's probabilities in Python cost most of the time on a month of feedback."""
    since = (now or utcnow()) - timedelta(days=window_days)
    sets = [s.name for s in taxonomy.label_sets]
    query = (
        select(
            RoutingDecision.id,
            RoutingDecision.decision,
            RoutingDecision.queue,
            Prediction.model_version,
            *(Prediction.results[name]["class"].as_string() for name in sets),
            *(Feedback.final_labels[name].as_string() for name in sets),
        )
        .join(Feedback, Feedback.decision_pk == RoutingDecision.id)
        .join(Prediction, Prediction.id == RoutingDecision.prediction_pk)
        .where(Feedback.created_at >= since)
        .order_by(Feedback.id)
    )
    if model_version is not None:
        query = query.where(Prediction.model_version == model_version)
    latest: dict[tuple[int, str], str] = {}  # (decision, label set) -> final class; later feedback replaces
    # decision -> (model, the human queue it was sent to, predicted class per label set)
    served: dict[int, tuple[str, str | None, dict[str, str | None]]] = {}
    newest: dict[str, int] = {}  # model -> its newest judged decision
    for row in session.execute(query):
        decision_id, decision, queue, model = row[:4]
        predicted, finals = row[4 : 4 + len(sets)], row[4 + len(sets) :]
        for set_name, final in zip(sets, finals, strict=True):
            if (final := _text(final)) is not None:
                latest[(decision_id, set_name)] = final
        human_queue = queue if decision == "human" else None  # an automated reply was sent to no queue
        classes = {name: _text(value) for name, value in zip(sets, predicted, strict=True)}
        served[decision_id] = (model, human_queue, classes)
        newest[model] = max(newest.get(model, 0), decision_id)
    judged: dict[str, Counter[str]] = defaultdict(Counter)
    right: dict[str, Counter[str]] = defaultdict(Counter)
    went: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    replied: Counter[str] = Counter()  # model -> automated replies with a final queue
    queue_set = taxonomy.routing.queue_set
    for (decision_id, set_name), final in latest.items():
        model, queue, classes = served[decision_id]
        predicted = classes[set_name]
        if predicted is not None:  # a prediction stored without this set (older records) judges nothing
            judged[model][set_name] += 1
            right[model][set_name] += predicted == final
        if set_name == queue_set and queue is not None:
            went[model][queue][final] += 1
        elif set_name == queue_set:  # answered automatically: sent to no queue (and judged for the queue set)
            replied[model] += 1
    models = []
    for model in sorted(newest, key=lambda m: -newest[m]):
        queues = []
        for queue, finals in sorted(went[model].items()):
            others = {k: v for k, v in sorted(finals.items(), key=lambda kv: (-kv[1], kv[0])) if k != queue}
            belonged = None if queue == taxonomy.routing.triage_queue else finals.get(queue, 0)
            queues.append(QueueOutcome(queue, sum(finals.values()), belonged, others))
        models.append(
            ModelOutcomes(
                model,
                [SetAccuracy(s, judged[model][s], right[model][s]) for s in sets if judged[model][s]],
                queues,
                replied[model],
            )
        )
    return Outcomes(window_days, since, taxonomy.routing.triage_queue, models)
