"""Training data from the store: current labels, cleaned text, a stratified split, clear errors."""

from __future__ import annotations

import copy
import json
import re

import pytest
from sqlalchemy.orm import Session, sessionmaker

from postroom.taxonomy import parse_taxonomy
from tests.training.builders import (
    MINI_TAXONOMY,
    add_labeled,
    add_raw_label,
    fill_store,
    mini_taxonomy,
    tiny_config,
)
from training.dataset import build_training_data
from training.errors import EmptyTrainingSet, NotEnoughExamples, UnknownLabel


def test_split_is_stratified_disjoint_and_seeded(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fill_store(session, per_class=8)
        data = build_training_data(session, mini_taxonomy(), tiny_config(eval_fraction=0.25, split_seed=1))
        again = build_training_data(session, mini_taxonomy(), tiny_config(eval_fraction=0.25, split_seed=1))
        other = build_training_data(session, mini_taxonomy(), tiny_config(eval_fraction=0.25, split_seed=2))
        trained_again = build_training_data(
            session, mini_taxonomy(), tiny_config(eval_fraction=0.25, split_seed=1, seed=7)
        )
    topic = data.label_sets["topic"]
    assert topic.classes == ["card_lost", "card_limit", "transfer_missing"]
    assert {c: n["eval"] for c, n in topic.counts().items()} == dict.fromkeys(topic.classes, 2)
    assert not set(data.train_message_ids) & set(data.eval_message_ids)
    assert len(data.train_message_ids) + len(data.eval_message_ids) == 24
    assert data.eval_message_ids == again.eval_message_ids != other.eval_message_ids
    assert trained_again.eval_message_ids == data.eval_message_ids  # the training seed keeps the split
    assert data.label_sets["queue"].eval_ids == data.eval_message_ids  # one split for every label set
    assert re.match(r"^card limit \d+\n\S", topic.train_texts[0])  # subject line, then the cleaned body
    record = data.record()
    assert record["label_sets"]["topic"]["train_message_ids"] == topic.train_ids
    # the classes as they were when it trained (current labels change later), aligned with the IDs
    assert record["label_sets"]["topic"]["train_labels"] == [topic.classes[i] for i in topic.train_labels]
    assert len(record["label_sets"]["topic"]["eval_labels"]) == len(topic.eval_ids)
    def texts(of) -> str:  # type: ignore[no-untyped-def]
        return of.record()["label_sets"]["topic"]["texts_sha256"]

    assert re.fullmatch(r"[0-9a-f]{64}", texts(data)) and texts(data) == texts(again) != texts(other)
    stored = json.dumps(record, ensure_ascii=False)
    assert not any(text.split("\n")[1] in stored for text in topic.train_texts)  # IDs, never text


def test_only_current_labels_count(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fill_store(session, per_class=6)
        add_labeled(session, "relabeled", "Karte", "Meine Karte ist weg.", {})
        add_raw_label(session, "relabeled", "topic", "transfer_missing", current=False)
        add_raw_label(session, "relabeled", "topic", "card_lost")
        add_raw_label(session, "relabeled", "queue", "cards")
        session.commit()
        data = build_training_data(session, mini_taxonomy(), tiny_config())
    topic = data.label_sets["topic"]
    everything = dict(
        zip(topic.train_ids + topic.eval_ids, topic.train_labels + topic.eval_labels, strict=True)
    )
    assert topic.classes[everything["relabeled"]] == "card_lost"


def test_too_few_examples_names_the_class(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fill_store(session, per_class=8, skip={"card_limit": 3})
        with pytest.raises(NotEnoughExamples) as caught:
            build_training_data(session, mini_taxonomy(), tiny_config(min_examples_per_class=4))
    assert caught.value.label_set == "topic" and caught.value.class_name == "card_limit"
    assert "'card_limit'" in str(caught.value) and "need at least 4" in str(caught.value)
    assert caught.value.have < 4


def test_too_few_examples_lists_every_short_class_at_once(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fill_store(session, per_class=8, skip={"card_limit": 3, "card_lost": 2})
        with pytest.raises(NotEnoughExamples) as caught:
            build_training_data(session, mini_taxonomy(), tiny_config(min_examples_per_class=4))
    said = str(caught.value)
    assert "card_lost" in said and "card_limit" in said and "more classes below it" in said
    assert "label more messages of these classes" in said


def test_unknown_labels_of_a_set_not_trained_do_not_block_training(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fill_store(session, per_class=6)
        add_raw_label(session, "card_lost-00", "topic", "crypto_question")  # a class renamed since
        session.commit()
        with pytest.raises(UnknownLabel):
            build_training_data(session, mini_taxonomy(), tiny_config(), label_sets=["topic"])
        data = build_training_data(session, mini_taxonomy(), tiny_config(), label_sets=["queue"])
    assert set(data.label_sets) == {"queue"} and data.ignored_unknown == {}


def test_unknown_label_in_the_store_is_named(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fill_store(session, per_class=6)
        add_raw_label(session, "card_lost-00", "topic", "crypto_question")
        session.commit()
        with pytest.raises(
            UnknownLabel, match=r"topic\.crypto_question \(1 messages, e\.g\. 'card_lost-00'\)"
        ):
            build_training_data(session, mini_taxonomy(), tiny_config())
        data = build_training_data(session, mini_taxonomy(), tiny_config(), ignore_unknown=True)
    assert data.ignored_unknown == {"topic.crypto_question": 1}


def test_empty_store_and_empty_label_set(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(EmptyTrainingSet, match="no labeled messages in the store"):
            build_training_data(session, mini_taxonomy(), tiny_config())
        add_labeled(session, "only-topic", "x", "Karte verloren", {"topic": "card_lost"})
        session.commit()
        with pytest.raises(EmptyTrainingSet, match="label set 'queue' has no labeled messages"):
            build_training_data(session, mini_taxonomy(), tiny_config())
        with pytest.raises(EmptyTrainingSet, match="no labeled messages of label set 'queue' in the store"):
            build_training_data(session, mini_taxonomy(), tiny_config(), label_sets=["queue"])


def test_shots_cap_per_class(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fill_store(session, per_class=8)
        data = build_training_data(session, mini_taxonomy(), tiny_config(shots_per_class=3))
    assert all(n["train"] == 3 for n in data.label_sets["topic"].counts().values())


def test_fewer_shots_than_the_minimum_per_class_is_refused_before_any_count(
    sessions: sessionmaker[Session],
) -> None:
    """Not "label more messages of this class": every class gets the shots and never the minimum."""
    from training.errors import NotEnoughExamples, TrainingError

    with sessions() as session:
        fill_store(session, per_class=8)
        config = tiny_config(shots_per_class=3, min_examples_per_class=4)
        with pytest.raises(TrainingError, match=r"\(--shots\) 3 is below .*\(--min-examples\) 4") as caught:
            build_training_data(session, mini_taxonomy(), config)
    assert not isinstance(caught.value, NotEnoughExamples)


def test_class_texts_come_from_the_taxonomy(sessions: sessionmaker[Session]) -> None:
    spec = copy.deepcopy(MINI_TAXONOMY)
    spec["label_sets"][1]["classes"][0]["description"] = "A card is lost or stolen."
    with sessions() as session:
        fill_store(session, per_class=8)
        data = build_training_data(session, parse_taxonomy(spec), tiny_config())
    assert data.label_sets["topic"].class_texts == (
        ("card lost", 0),
        ("A card is lost or stolen.", 0),
        ("card limit", 1),
        ("transfer missing", 2),
    )
    assert data.label_sets["queue"].class_texts == (("cards", 0), ("payments", 1))


def test_the_self_training_pool_is_the_unlabeled_messages_with_text(sessions: sessionmaker[Session]) -> None:
    from postroom.ingest.records import IncomingMessage
    from postroom.ingest.service import ingest_one

    with sessions() as session:
        fill_store(session, per_class=8)
        for i, body in enumerate(["Bitte Karte sperren.", "Where is my money?", "   "]):
            message = IncomingMessage(message_id=f"u-{i}", raw=body, raw_format="text", origin="test")
            ingest_one(session, message)
        add_raw_label(session, "u-1", "topic", "transfer_missing", current=False)  # an old label: unlabeled
        session.commit()
        data = build_training_data(session, mini_taxonomy(), tiny_config())
        capped = build_training_data(session, mini_taxonomy(), tiny_config(self_train_pool_max=1))
        off = build_training_data(session, mini_taxonomy(), tiny_config(self_train_rounds=0))
    assert data.unlabeled_ids == ["u-0", "u-1"]  # u-2 has no text; labeled messages are never in the pool
    assert data.unlabeled_texts == ["Bitte Karte sperren.", "Where is my money?"]
    assert data.record()["unlabeled_message_ids"] == ["u-0", "u-1"]
    assert len(capped.unlabeled_ids) == 1 and capped.unlabeled_ids[0] in {"u-0", "u-1"}
    assert off.unlabeled_ids == []
    assert not set(data.unlabeled_ids) & set(data.eval_message_ids)
