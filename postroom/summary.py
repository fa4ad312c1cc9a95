"""What is in the store: counts per label set and class, languages, cleaning flags."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postroom.store.models import Label, Message
from postroom.taxonomy import Taxonomy


@dataclass
class StoreSummary:
    messages: int
    labeled: dict[str, int]  # label set -> messages with a current label in it
    classes: dict[str, dict[str, int]]  # label set -> class -> count (every taxonomy class, zero included)
    languages: dict[str, int]
    unknown_classes: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # labels no longer in the taxonomy


def summarize(session: Session, taxonomy: Taxonomy) -> StoreSummary:
    messages = session.scalar(select(func.count(Message.id))) or 0
    languages = Counter(
        {
            lang or "unknown": n
            for lang, n in session.execute(select(Message.language, func.count()).group_by(Message.language))
        }
    )
    rows = session.execute(
        select(Label.label_set, Label.class_name, func.count())
        .where(Label.is_current.is_(True))
        .group_by(Label.label_set, Label.class_name)
    ).all()
    counts: dict[str, dict[str, int]] = {s.name: dict.fromkeys(s.class_names, 0) for s in taxonomy.label_sets}
    unknown: dict[str, dict[str, int]] = {}
    for set_name, class_name, n in rows:
        target = counts.get(set_name)
        if target is not None and class_name in target:
            target[class_name] = n
        else:
            unknown.setdefault(set_name, {})[class_name] = n
    labeled = {name: sum(per_class.values()) for name, per_class in counts.items()}
    return StoreSummary(messages, labeled, counts, dict(languages.most_common()), unknown)
