"""Training data from the store: the cleaned text of labeled messages, split once into train and held-out.

Text is `Message.model_text` (subject line, then the cleaned body); labels are the current ones
(`Label.is_current`). The split is by message and shared by every label set, so a shared body never sees a
held-out message under any label set. It is stratified on the taxonomy's label set with the most classes
(the finest one, whichever sets a run trains; the other sets follow closely because their classes nest),
stable as labels are added, and keeps near-duplicate texts on one side (training.split). Message IDs of both
parts are recorded.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, load_only, selectinload

from postroom.store.models import Label, Message
from postroom.taxonomy import Taxonomy
from training.config import TrainConfig
from training.errors import EmptyTrainingSet, NotEnoughExamples, TrainingError, UnknownLabel
from training.split import SplitPlan, near_duplicate_groups, plan_split


@dataclass(frozen=True)
class LabeledMessage:
    message_id: str
    text: str
    labels: dict[str, str]  # label set -> class (current labels only)
    stratum: str = ""  # the split's stratum: `set.class` in the finest set with a label of it


@dataclass(frozen=True)
class LabelSetData:
    """One label set's train and held-out examples; labels are indices into `classes` (taxonomy order)."""

    name: str
    classes: list[str]
    train_ids: list[str]
    train_texts: list[str]
    train_labels: list[int]
    eval_ids: list[str]
    eval_texts: list[str]
    eval_labels: list[int]
    class_texts: tuple[tuple[str, int], ...] = ()  # the taxonomy's words for each class (ClassDef.texts)

    def counts(self) -> dict[str, dict[str, int]]:
        train = Counter(self.train_labels)
        held = Counter(self.eval_labels)
        return {c: {"train": train.get(i, 0), "eval": held.get(i, 0)} for i, c in enumerate(self.classes)}


@dataclass
class TrainingData:
    """Everything a training run learns from and is evaluated on."""

    taxonomy_name: str
    taxonomy_fingerprint: str
    label_sets: dict[str, LabelSetData]
    train_message_ids: list[str]
    eval_message_ids: list[str]
    skipped_empty_text: int = 0
    split: dict[str, Any] = field(default_factory=dict)  # how the split was made (training.split)
    ignored_unknown: dict[str, int] = field(default_factory=dict)
    unlabeled_ids: list[str] = field(default_factory=list)  # the self-training pool (training.selftrain)
    unlabeled_texts: list[str] = field(default_factory=list)

    def record(self, pseudo_labeled: dict[str, set[int]] | None = None) -> dict[str, Any]:
        """The dataset as stored with a model version (message IDs, never text). `pseudo_labeled`: by label
        set, the rows of the unlabeled pool self-training learned from (`TrainedModels.pseudo_labeled`)."""
        used = {n: sorted(self.unlabeled_ids[i] for i in rows) for n, rows in (pseudo_labeled or {}).items()}
        return {
            "taxonomy": {"name": self.taxonomy_name, "fingerprint": self.taxonomy_fingerprint},
            "train_message_ids": self.train_message_ids,
            "eval_message_ids": self.eval_message_ids,
            "label_sets": {
                name: {
                    "classes": data.classes,
                    "train_message_ids": data.train_ids,
                    "eval_message_ids": data.eval_ids,
                    "counts": data.counts(),
                    # the class each message had when this version trained: current labels change later
                    "train_labels": [data.classes[i] for i in data.train_labels],
                    "eval_labels": [data.classes[i] for i in data.eval_labels],
                    "texts_sha256": _texts_digest(data),
                    "pseudo_labeled_message_ids": used.get(name, []),
                }
                for name, data in self.label_sets.items()
            },
            "skipped_empty_text": self.skipped_empty_text,
            "split": self.split,
            "ignored_unknown_labels": self.ignored_unknown,
            "unlabeled_message_ids": self.unlabeled_ids,
            "pseudo_labeled_message_ids": sorted({mid for ids in used.values() for mid in ids}),
        }


def _texts_digest(data: LabelSetData) -> str:
    """One SHA-256 over the texts the label set trained and was evaluated on, in order: whether a retraining
    reads the same texts (a cleaner change alters them), without keeping any text or a per-text hash."""
    digest = hashlib.sha256()
    for text in (*data.train_texts, *data.eval_texts):
        digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    return digest.hexdigest()


def load_labeled_messages(
    session: Session, taxonomy: Taxonomy, label_sets: list[str] | None = None, ignore_unknown: bool = False
) -> tuple[list[LabeledMessage], int, dict[str, int]]:
    """Labeled messages in message-id order, the number skipped for empty text, and ignored unknown labels.

    Raises:
        UnknownLabel: a current label names a label set the taxonomy lacks, or a class it lacks in one of
            `label_sets` (unless ignored).
    """
    wanted = label_sets or taxonomy.set_names
    for name in wanted:
        taxonomy.label_set(name)  # unknown set names raise TaxonomyError
    known = {s.name: set(s.class_names) for s in taxonomy.label_sets}
    finest_first = sorted(known, key=lambda name: (-len(known[name]), name))  # strata, whatever is trained
    messages = session.scalars(
        select(Message).options(selectinload(Message.labels)).order_by(Message.message_id)
    ).all()
    unknown: Counter[str] = Counter()
    example: dict[str, str] = {}
    result: list[LabeledMessage] = []
    skipped = 0
    for message in messages:
        labels: dict[str, str] = {}
        every: dict[str, str] = {}  # every known current label, trained here or not: the stratum
        for label in message.labels:
            if not label.is_current:
                continue
            if label.label_set not in known or label.class_name not in known[label.label_set]:
                if label.label_set in known and label.label_set not in wanted:
                    continue  # a set this run does not train: its labels decide nothing here
                key = f"{label.label_set}.{label.class_name}"
                unknown[key] += 1
                example.setdefault(key, message.message_id)
                continue
            every[label.label_set] = label.class_name
            if label.label_set in wanted:
                labels[label.label_set] = label.class_name
        if not labels:
            continue
        text = message.model_text.strip()
        if not text:
            skipped += 1
            continue
        stratum = next(f"{name}.{every[name]}" for name in finest_first if name in every)
        result.append(LabeledMessage(message.message_id, text, labels, stratum))
    if unknown and not ignore_unknown:
        listed = "; ".join(f"{k} ({n} messages, e.g. {example[k]!r})" for k, n in sorted(unknown.items()))
        raise UnknownLabel(
            f"the store has current labels that are not in the taxonomy: {listed}. Relabel those messages, "
            "add the classes to the taxonomy, or train with --ignore-unknown-labels"
        )
    return result, skipped, dict(unknown)


def load_unlabeled(session: Session, label_sets: list[str], limit: int, seed: int) -> list[tuple[str, str]]:
    """(message ID, text) of messages without a current label in any of `label_sets` and with some text:
    a seeded sample of at most `limit` of them, in message-ID order (the self-training pool)."""
    if limit <= 0:
        return []
    labeled = select(Label.message_pk).where(Label.is_current.is_(True), Label.label_set.in_(label_sets))
    has_text = or_(Message.cleaned_text != "", func.coalesce(Message.subject, "") != "")
    keys = session.scalars(
        select(Message.id).where(Message.id.not_in(labeled), has_text).order_by(Message.message_id)
    ).all()
    if len(keys) > limit:
        keys = [keys[i] for i in sorted(np.random.default_rng(seed).choice(len(keys), limit, replace=False))]
    pool: list[tuple[str, str]] = []
    for start in range(0, len(keys), 1000):
        chunk = session.scalars(
            select(Message)
            .options(load_only(Message.message_id, Message.subject, Message.cleaned_text))  # no raw bodies
            .where(Message.id.in_(keys[start : start + 1000]))
            .order_by(Message.message_id)
        ).all()
        pool.extend((m.message_id, m.model_text.strip()) for m in chunk if m.model_text.strip())
    return pool


def split_messages(
    messages: list[LabeledMessage], config: TrainConfig
) -> tuple[list[LabeledMessage], list[LabeledMessage], SplitPlan]:
    """(train, held-out, plan) by message: stable, stratified on `LabeledMessage.stratum` with a held-out
    message for every class of every trained set where a swap allows, near-duplicates together
    (training.split)."""
    groups = near_duplicate_groups([m.text for m in messages], config.near_duplicate_cosine)
    plan = plan_split(
        [m.message_id for m in messages],
        [m.stratum for m in messages],
        groups,
        config.eval_fraction,
        config.split_seed,
        [m.labels for m in messages],
    )
    train = [m for i, m in enumerate(messages) if i not in plan.held_out]
    held = [m for i, m in enumerate(messages) if i in plan.held_out]
    return sorted(train, key=lambda m: m.message_id), sorted(held, key=lambda m: m.message_id), plan


def _cap_per_class(rows: list[LabeledMessage], label_set: str, shots: int, seed: int) -> list[LabeledMessage]:
    by_class: dict[str, list[LabeledMessage]] = defaultdict(list)
    for message in rows:
        by_class[message.labels[label_set]].append(message)
    rng = np.random.default_rng(seed)
    kept: list[LabeledMessage] = []
    for name in sorted(by_class):
        group = by_class[name]
        if len(group) > shots:
            group = [group[i] for i in sorted(rng.choice(len(group), shots, replace=False))]
        kept.extend(group)
    return sorted(kept, key=lambda m: m.message_id)


def build_training_data(
    session: Session,
    taxonomy: Taxonomy,
    config: TrainConfig,
    label_sets: list[str] | None = None,
    ignore_unknown: bool = False,
) -> TrainingData:
    """Load, split and check the training data of every wanted label set.

    Raises:
        TrainingError: fewer shots per class than `config.min_examples_per_class`.
        EmptyTrainingSet: no labeled message at all, or none for one label set.
        NotEnoughExamples: classes with fewer training examples than `config.min_examples_per_class` (the
            first named, every one listed).
        UnknownLabel: see `load_labeled_messages`.
    """
    shots, need = config.shots_per_class, config.min_examples_per_class
    if shots is not None and shots < need:  # every class would fail, whatever is labeled
        raise TrainingError(
            f"shots_per_class (--shots) {shots} is below min_examples_per_class (--min-examples) {need}: "
            "every class would have too few training examples; raise the one or lower the other"
        )
    wanted = label_sets or taxonomy.set_names
    messages, skipped, unknown = load_labeled_messages(session, taxonomy, wanted, ignore_unknown)
    if not messages:
        which = f" of label set {', '.join(map(repr, wanted))}" if label_sets else ""
        raise EmptyTrainingSet(
            f"no labeled messages{which} in the store: ingest labeled messages (postroom ingest) or pull "
            "labels from Doccano first"
            + (f" ({skipped} labeled messages have no text after cleaning)" if skipped else "")
        )
    for name in wanted:
        if not any(name in m.labels for m in messages):
            raise EmptyTrainingSet(f"label set {name!r} has no labeled messages in the store")
    finest = min(taxonomy.set_names, key=lambda n: (-len(taxonomy.label_set(n).classes), n))
    train, held, plan = split_messages(messages, config)
    data: dict[str, LabelSetData] = {}
    short: list[tuple[str, str, int, int, int]] = []  # label set, class, training, labeled, held out
    for name in wanted:
        label_set = taxonomy.label_set(name)
        classes = label_set.class_names
        index = {c: i for i, c in enumerate(classes)}
        set_train = [m for m in train if name in m.labels]
        if config.shots_per_class is not None:
            set_train = _cap_per_class(set_train, name, config.shots_per_class, config.seed)
        set_held = [m for m in held if name in m.labels]
        have = Counter(m.labels[name] for m in set_train)
        held_counts = Counter(m.labels[name] for m in set_held)
        short.extend(
            (name, c, have[c], have[c] + held_counts[c], held_counts[c])
            for c in classes
            if have[c] < config.min_examples_per_class
        )
        data[name] = LabelSetData(
            name=name,
            classes=classes,
            train_ids=[m.message_id for m in set_train],
            train_texts=[m.text for m in set_train],
            train_labels=[index[m.labels[name]] for m in set_train],
            eval_ids=[m.message_id for m in set_held],
            eval_texts=[m.text for m in set_held],
            eval_labels=[index[m.labels[name]] for m in set_held],
            class_texts=tuple((text, i) for i, c in enumerate(label_set.classes) for text in c.texts()),
        )
    if short:
        (name, class_name, train_n, labeled, held_n), *others = short
        also = "; ".join(f"{s}.{c} {t} ({n} labeled, {h} held out)" for s, c, t, n, h in others)
        raise NotEnoughExamples(
            name,
            class_name,
            train_n,
            config.min_examples_per_class,
            detail=f"{labeled} labeled, {held_n} held out for evaluation",
            also=f"{len(others)} more classes below it: {also}" if others else "",
        )
    used_train = sorted({mid for d in data.values() for mid in d.train_ids})
    pool = (
        load_unlabeled(session, wanted, config.self_train_pool_max, config.seed)
        if config.self_train_rounds
        else []
    )
    return TrainingData(
        taxonomy_name=taxonomy.name,
        taxonomy_fingerprint=taxonomy.fingerprint(),
        label_sets=data,
        train_message_ids=used_train,
        eval_message_ids=[m.message_id for m in held],
        skipped_empty_text=skipped,
        split={
            "method": "stable-rank",
            "stratified_on": finest,
            "seed": config.split_seed,
            "eval_fraction": config.eval_fraction,
            "near_duplicate_cosine": config.near_duplicate_cosine,
            "near_duplicate_groups": plan.groups_joined,
            "near_duplicate_messages": plan.messages_joined,
            "swapped_in": list(plan.swapped_in),
            # held-out near-copy groups: calibration keeps each on one side and counts it once
            "eval_near_copies": [
                sorted(messages[i].message_id for i in group) for group in plan.held_out_groups
            ],
        },
        ignored_unknown=unknown,
        unlabeled_ids=[mid for mid, _ in pool],
        unlabeled_texts=[text for _, text in pool],
    )
