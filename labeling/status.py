"""How far labeling is: per label set and class, labeled messages against the target N.

A class with fewer than N labeled messages is *below target*: `train` still runs while every class has
`min_examples_per_class` training messages, but warns, and the model learns such a class from few examples.
Only labels from the counted sources (`labeling_sources`, e.g. just `doccano` in the demo) count. With a
project, also what the last pull recorded about its problems (per kind: a count and the first message IDs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labeling.sync import last_pull_problems, present_message_ids
from postroom.store.models import Label, Message
from postroom.store.queries import stored_message_ids
from postroom.taxonomy import Taxonomy


@dataclass(frozen=True)
class ClassStatus:
    name: str
    labeled: int
    target: int

    @property
    def missing(self) -> int:
        return max(0, self.target - self.labeled)


@dataclass
class SetStatus:
    name: str
    classes: list[ClassStatus]

    @property
    def below_target(self) -> list[str]:
        """Classes with fewer labeled messages than the target N."""
        return [c.name for c in self.classes if c.missing]

    @property
    def at_target(self) -> bool:
        return not self.below_target

    @property
    def labeled(self) -> int:
        return sum(c.labeled for c in self.classes)


@dataclass
class LabelingStatus:
    target: int
    sources: tuple[str, ...]
    sets: list[SetStatus]
    messages: int
    awaiting_expert: int = 0  # in Doccano, not yet labeled from a counted source in every set
    unknown: dict[str, dict[str, int]] = field(default_factory=dict)  # labels no longer in the taxonomy
    # what the last pull found: kind -> count and first message IDs (None: no pull recorded)
    pull_problems: dict[str, dict[str, Any]] | None = None

    @property
    def at_target(self) -> bool:
        return all(s.at_target for s in self.sets)

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "sources": list(self.sources),
            "messages": self.messages,
            "awaiting_expert": self.awaiting_expert,
            "at_target": self.at_target,
            "label_sets": {
                s.name: {
                    "at_target": s.at_target,
                    "below_target": s.below_target,
                    "classes": {c.name: {"labeled": c.labeled, "missing": c.missing} for c in s.classes},
                }
                for s in self.sets
            },
            "unknown_classes": self.unknown,
            "last_pull_problems": self.pull_problems,
        }


def labeled_counts(session: Session, taxonomy: Taxonomy, sources: Sequence[str]) -> dict[str, dict[str, int]]:
    """label set -> class -> messages with that current label from one of `sources` (zeros included)."""
    counts: dict[str, dict[str, int]] = {s.name: dict.fromkeys(s.class_names, 0) for s in taxonomy.label_sets}
    rows = session.execute(
        select(Label.label_set, Label.class_name, func.count(func.distinct(Label.message_pk)))
        .where(Label.is_current.is_(True), Label.source.in_(list(sources)))
        .group_by(Label.label_set, Label.class_name)
    )
    for set_name, class_name, n in rows:
        counts.setdefault(set_name, {})[class_name] = n
    return counts


def labeling_status(
    session: Session,
    taxonomy: Taxonomy,
    target: int,
    sources: Sequence[str],
    project: str | None = None,
) -> LabelingStatus:
    """Counts per set and class against `target`; with `project`, how many pushed messages await labels."""
    counts = labeled_counts(session, taxonomy, sources)
    sets = [
        SetStatus(s.name, [ClassStatus(c, counts[s.name].get(c, 0), target) for c in s.class_names])
        for s in taxonomy.label_sets
    ]
    unknown = {
        set_name: {
            c: n
            for c, n in per_class.items()
            if set_name not in taxonomy.set_names or c not in taxonomy.label_set(set_name).class_names
        }
        for set_name, per_class in counts.items()
    }
    unknown = {k: v for k, v in unknown.items() if v}
    status = LabelingStatus(
        target, tuple(sources), sets, session.scalar(select(func.count(Message.id))) or 0, unknown=unknown
    )
    if project:
        pushed = present_message_ids(session, project)
        done = set(
            session.scalars(
                select(Message.message_id)
                .join(Label, Label.message_pk == Message.id)
                .where(Label.is_current.is_(True), Label.source.in_(list(sources)))
                .group_by(Message.message_id)
                .having(func.count(func.distinct(Label.label_set)) >= len(taxonomy.label_sets))
            )
        )
        stored = stored_message_ids(session, pushed)
        status.awaiting_expert = len((pushed & stored) - done)  # not messages erased since (forget, purge)
        status.pull_problems = last_pull_problems(session, project)
    return status
