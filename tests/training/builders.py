"""Builders for training tests: a small taxonomy, labeled messages in a real store, tiny configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from postroom.store.models import Label, Message
from postroom.taxonomy import Taxonomy, parse_taxonomy
from training.config import TrainConfig

MINI_TAXONOMY: dict[str, Any] = {
    "name": "mini-bank",
    "languages": ["de", "en"],
    "routing": {"queue_set": "queue", "reply_set": "topic"},
    "label_sets": [
        {"name": "queue", "classes": [{"name": "cards"}, {"name": "payments"}]},
        {
            "name": "topic",
            "classes": [{"name": "card_lost"}, {"name": "card_limit"}, {"name": "transfer_missing"}],
        },
    ],
}
QUEUE_OF = {"card_lost": "cards", "card_limit": "cards", "transfer_missing": "payments"}
PHRASES = {
    "card_lost": [
        "I lost my debit card yesterday, please block it.",
        "Meine Karte wurde gestohlen, bitte sperren Sie sie sofort.",
        "My credit card is gone, I think it was stolen in the train.",
        "Karte verloren – bitte eine Ersatzkarte schicken.",
        "Someone stole my wallet with the card inside, block it please.",
        "Ich finde meine Bankkarte nicht mehr, bitte sperren.",
        "Card missing since the weekend, please cancel it and send a new one.",
        "Die Karte ist weg, vermutlich verloren beim Einkaufen.",
    ],
    "card_limit": [
        "My card payment was declined because the limit is too low.",
        "Bitte erhöhen Sie mein Kartenlimit für den Urlaub.",
        "The ATM refused to give me cash, is my daily limit reached?",
        "Kartenzahlung abgelehnt, das Limit reicht nicht.",
        "Can you raise the spending limit on my credit card?",
        "Mein Verfügungsrahmen ist zu niedrig, bitte anpassen.",
        "Payment at the shop was rejected, limit exceeded again.",
        "Limit der Kreditkarte bitte dauerhaft auf 5000 Euro setzen.",
    ],
    "transfer_missing": [
        "My transfer from last week has not arrived at the recipient.",
        "Die Überweisung ist noch nicht beim Empfänger angekommen.",
        "Where is my SEPA transfer? The money left my account on Monday.",
        "Überweisung seit fünf Tagen unterwegs, bitte prüfen.",
        "The payment to my landlord never reached him, please trace it.",
        "Geld wurde abgebucht, aber der Empfänger hat nichts erhalten.",
        "Transfer status unclear, it still shows pending.",
        "Bitte klären Sie den Verbleib meiner Auslandsüberweisung.",
    ],
}


def mini_taxonomy() -> Taxonomy:
    return parse_taxonomy(MINI_TAXONOMY)


def write_mini_taxonomy(path: Path) -> Path:
    path.write_text(yaml.safe_dump(MINI_TAXONOMY), encoding="utf-8")
    return path


def add_labeled(session: Session, message_id: str, subject: str, body: str, labels: dict[str, str]) -> None:
    """Store one labeled message through the real ingestion (cleaning included)."""
    from postroom.ingest.records import IncomingMessage
    from postroom.ingest.service import ingest_one

    ingest_one(
        session,
        IncomingMessage(
            message_id=message_id, raw=body, raw_format="text", origin="test", subject=subject, labels=labels
        ),
    )


def add_raw_label(
    session: Session, message_id: str, label_set: str, class_name: str, current: bool = True
) -> None:
    """Attach a label row directly (for labels ingestion would refuse, e.g. a class not in the taxonomy); a
    current one replaces the set's current label, as every writer does (one current label per set)."""
    from sqlalchemy import select

    message = session.scalar(select(Message).where(Message.message_id == message_id))
    assert message is not None
    if current:
        for label in message.labels:
            if label.label_set == label_set and label.is_current:
                label.is_current = False
        session.flush()
    session.add(
        Label(message=message, label_set=label_set, class_name=class_name, source="test", is_current=current)
    )


def fill_store(session: Session, per_class: int = 8, skip: dict[str, int] | None = None) -> list[str]:
    """`per_class` messages per topic (fewer for classes in `skip`), labeled for queue and topic."""
    ids = []
    for topic, phrases in PHRASES.items():
        count = (skip or {}).get(topic, per_class)
        for i in range(count):
            message_id = f"{topic}-{i:02d}"
            add_labeled(
                session,
                message_id,
                f"{topic.replace('_', ' ')} {i}",
                phrases[i % len(phrases)],
                {"queue": QUEUE_OF[topic], "topic": topic},
            )
            ids.append(message_id)
    session.commit()
    return ids


def tiny_config(**changes: Any) -> TrainConfig:
    """A few steps on short sequences: seconds on two CPU cores."""
    base = {
        "max_seq_length": 32,
        "max_steps": 2,
        "epochs": 1,
        "batch_size": 8,
        "min_examples_per_class": 2,
        "eval_fraction": 0.25,
        "head_max_iter": 200,
        "device": "cpu",
    }
    return TrainConfig(**{**base, **changes})


def mini_training_data(per_class: int = 6, eval_per_class: int = 2) -> Any:
    """TrainingData for the mini taxonomy without a store (for tests of training itself)."""
    from training.dataset import LabelSetData, TrainingData

    taxonomy = mini_taxonomy()
    rows = []
    for topic, phrases in PHRASES.items():
        for i in range(per_class + eval_per_class):
            rows.append(
                (
                    f"{topic}-{i:02d}",
                    f"{topic.replace('_', ' ')}\n{phrases[i % len(phrases)]}",
                    topic,
                    i >= per_class,
                )
            )
    sets = {}
    for label_set in taxonomy.label_sets:
        classes = label_set.class_names
        value = (lambda t: t) if label_set.name == "topic" else (lambda t: QUEUE_OF[t])
        train = [r for r in rows if not r[3]]
        held = [r for r in rows if r[3]]
        sets[label_set.name] = LabelSetData(
            name=label_set.name,
            classes=classes,
            train_ids=[r[0] for r in train],
            train_texts=[r[1] for r in train],
            train_labels=[classes.index(value(r[2])) for r in train],
            eval_ids=[r[0] for r in held],
            eval_texts=[r[1] for r in held],
            eval_labels=[classes.index(value(r[2])) for r in held],
        )
    return TrainingData(
        taxonomy.name,
        taxonomy.fingerprint(),
        sets,
        sorted(r[0] for r in rows if not r[3]),
        sorted(r[0] for r in rows if r[3]),
    )


def packaged_model() -> str:
    from postroom.settings import get_settings

    return get_settings().resolved_base_model()


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_bench_data(root: Path) -> Path:
    """Tiny JSONL files shaped like ../shared/data (banking77/, massive/ en and de) under `root`."""
    train, test = [], []
    for intent, phrases in PHRASES.items():
        n_train = 3 if intent == "card_limit" else 6  # one class has fewer rows than N
        for i, text in enumerate(phrases):
            row = {
                "id": f"{intent}-{i}",
                "text": text,
                "language": "en",
                "intent": intent,
                "scenario": "cards" if intent.startswith("card") else "payments",
            }
            (train if i < n_train else test).append(row)
    _write_jsonl(root / "banking77" / "banking77_train.jsonl", train)
    _write_jsonl(root / "banking77" / "banking77_test.jsonl", test)
    for language in ("en", "de"):
        _write_jsonl(root / "massive" / f"massive_{language}_train.jsonl", train)
        _write_jsonl(root / "massive" / f"massive_{language}_test.jsonl", test)
    return root
