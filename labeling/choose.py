"""Choose the store's messages to send to the experts next (the store side of `labeling.select`)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from labeling.select import (
    EmbeddingProxy,
    ProbaModel,
    SelectionConfig,
    cold_start,
    embed_texts,
    select_random,
    select_uncertain,
)
from labeling.status import labeled_counts
from labeling.sync import EVENT_PUSHED, EVENT_SELECTED, other_projects_events, project_message_ids
from postroom.store.models import Label, Message
from postroom.taxonomy import Taxonomy

Strategy = Literal["auto", "cold", "uncertain", "random"]
EMBED_CHARS = 2000  # MiniLM reads 256 tokens; more text only costs time
MIN_LABELED_FOR_MODEL = 10
DEFAULT_CONFIG = SelectionConfig()


@dataclass(frozen=True)
class Choice:
    message_ids: list[str]
    strategy: str  # what was used: cold | uncertain (proxy|model) | random
    candidates: int
    labeled: int
    near_copies: int = 0  # candidates left out as near-copies of messages labeled or picked (fewer than k)


def _labeled(session: Session, taxonomy: Taxonomy, sources: Sequence[str]) -> dict[int, dict[str, str]]:
    """message pk -> {label set: class} for messages with a current label of a counted source in every set."""
    found: dict[int, dict[str, str]] = defaultdict(dict)
    rows = session.execute(
        select(Label.message_pk, Label.label_set, Label.class_name).where(
            Label.is_current.is_(True), Label.source.in_(list(sources))
        )
    )
    for pk, set_name, class_name in rows:
        found[pk][set_name] = class_name
    return {pk: labels for pk, labels in found.items() if all(s in labels for s in taxonomy.set_names)}


def choose_for_labeling(
    session: Session,
    taxonomy: Taxonomy,
    k: int,
    *,
    project: str,
    sources: Sequence[str],
    target: int,
    strategy: Strategy = "auto",
    model: ProbaModel | None = None,
    config: SelectionConfig = DEFAULT_CONFIG,
    max_pool: int = 5000,
    seed: int = 0,
    embed: Callable[[Sequence[str]], np.ndarray] = embed_texts,
) -> Choice:
    """Pick `k` messages that are neither labeled (from `sources`) nor already selected for `project` or
    another project (push would not send those: a message is labeled in one project)."""
    taken = project_message_ids(session, project)
    for events in other_projects_events(session, [EVENT_SELECTED, EVENT_PUSHED], project).values():
        taken |= set(events)
    labeled = _labeled(session, taxonomy, sources)
    rows = session.execute(select(Message.id, Message.message_id).order_by(Message.id)).all()
    pool_ids = [(pk, mid) for pk, mid in rows if mid not in taken and pk not in labeled]
    if len(pool_ids) > max_pool:
        pool_ids = sorted(random.Random(seed).sample(pool_ids, max_pool))
    if not pool_ids or k <= 0:
        return Choice([], "none", len(pool_ids), len(labeled))
    if strategy == "random":
        picks = select_random(len(pool_ids), k, seed)
        return Choice([pool_ids[i][1] for i in picks], "random", len(pool_ids), len(labeled))

    def load(pks: Sequence[int]) -> list[Message]:
        by_pk = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(list(pks))))}
        return [by_pk[pk] for pk in pks]

    pool = [
        m
        for start in range(0, len(pool_ids), 500)
        for m in load([pk for pk, _ in pool_ids[start : start + 500]])
    ]
    pool_vecs = embed([m.model_text[:EMBED_CHARS] for m in pool])
    labeled_pks = sorted(labeled)
    if len(labeled_pks) > max_pool:  # enough to fit the proxy and to skip near-duplicates
        labeled_pks = sorted(random.Random(seed).sample(labeled_pks, max_pool))
    known = [m for start in range(0, len(labeled_pks), 500) for m in load(labeled_pks[start : start + 500])]
    known_vecs = embed([m.model_text[:EMBED_CHARS] for m in known]) if known else np.zeros((0, 0))
    use_model = strategy == "uncertain" or (
        strategy == "auto" and (model is not None or len(known) >= MIN_LABELED_FOR_MODEL)
    )
    if use_model and (model is not None or known):
        if model is not None:
            predictions = model([m.model_text for m in pool])
            used = "uncertain (model)"
        else:
            labels = {s: [labeled[m.id][s] for m in known] for s in taxonomy.set_names}
            predictions = EmbeddingProxy(known_vecs, labels).predict_embeddings(pool_vecs)
            used = "uncertain (embedding proxy)"
        counts = labeled_counts(session, taxonomy, sources)
        picks = select_uncertain(pool_vecs, predictions, counts, k, target, avoid=known_vecs, config=config)
    else:
        picks = cold_start(
            pool_vecs, k, languages=[m.language for m in pool], avoid=known_vecs, config=config, seed=seed
        )
        used = "cold start (clusters)"
    # fewer picks than asked for: every candidate left is a near-copy of a labeled or picked message
    near_copies = len(pool) - len(picks) if len(picks) < k else 0
    return Choice([pool[i].message_id for i in picks], used, len(pool), len(known), near_copies)
