"""Routing decisions: auto-reply only when every condition holds, else the right human queue, with reasons."""

from __future__ import annotations

import pytest

from postroom.taxonomy import Taxonomy
from router.decide import LabelPrediction, decide
from router.thresholds import default_values


def predictions(
    topic: str = "account_statement",
    p: float = 0.97,
    lob: str = "retail",
    queue: str = "accounts",
    q: float = 0.9,
) -> dict[str, LabelPrediction]:
    return {
        "line_of_business": LabelPrediction(lob, 0.9),
        "queue": LabelPrediction(queue, q),
        "topic": LabelPrediction(topic, p),
    }


@pytest.fixture
def values(taxonomy: Taxonomy):  # type: ignore[no-untyped-def]
    v = default_values(taxonomy)
    v["topic"]["account_statement"] = 0.95
    v["queue"]["accounts"] = 0.5
    return v


def test_auto_reply_in_the_message_language(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    decision = decide(predictions(), values, 3, taxonomy, "de")
    assert decision.decision == "auto_reply" and decision.reply_class == "account_statement"
    assert decision.reply is not None and decision.reply.language == "de"
    assert (
        decision.reply.body.startswith("Guten Tag,\n\nvielen Dank")
        and "Nordhafen Bank" in decision.reply.body
    )
    assert decision.thresholds_version == 3 and decision.queue == "accounts"
    assert "0.970 >= threshold 0.950" in decision.reasons[0]


def test_below_threshold_goes_to_the_predicted_queue(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    decision = decide(predictions(p=0.90), values, 3, taxonomy, "en")
    assert (decision.decision, decision.queue, decision.reply) == ("human", "accounts", None)
    assert "below its threshold 0.950" in decision.reasons[0]


def test_no_template_and_disabled_class(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    no_template = decide(predictions(topic="fee_complaint", queue="complaints"), values, 1, taxonomy, "en")
    assert no_template.decision == "human" and "has no auto-reply template" in no_template.reasons[0]
    disabled = decide(predictions(topic="address_change"), values, 1, taxonomy, "en")
    assert disabled.decision == "human" and "is off (no certified threshold)" in disabled.reasons[0]


def test_business_clients_never_get_automated_replies(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    decision = decide(predictions(lob="business"), values, 1, taxonomy, "de")
    assert decision.decision == "human"
    assert "line_of_business business does not allow automated replies" in decision.reasons


def test_unknown_or_unsupported_language_goes_to_a_human(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    assert "language is unknown" in decide(predictions(), values, 1, taxonomy, None).reasons[0]
    finnish = decide(predictions(), values, 1, taxonomy, "fi")
    assert finnish.decision == "human" and "template in language 'fi'" in finnish.reasons[0]


def test_uncertain_queue_goes_to_triage(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    decision = decide(predictions(topic="fee_complaint", queue="accounts", q=0.3), values, 1, taxonomy, "en")
    assert decision.queue == "triage" and "triage" in decision.reasons[-1]


def test_learned_thresholds_compare_the_learned_confidence(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    sure = predictions(p=0.60)  # a low probability, a high learned confidence: the learned score decides
    sure["topic"] = replace(sure["topic"], confidence=0.97)
    decision = decide(sure, values, 4, taxonomy, "en", learned=True)
    assert decision.decision == "auto_reply"
    assert "learned confidence 0.970 >= threshold 0.950" in decision.reasons[0]
    unsure = predictions(p=0.99)
    unsure["topic"] = replace(unsure["topic"], confidence=0.80)
    below = decide(unsure, values, 4, taxonomy, "en", learned=True)
    assert below.decision == "human" and "learned confidence 0.800 is below its threshold" in below.reasons[0]
    missing = decide(predictions(p=0.99), values, 4, taxonomy, "en", learned=True)  # no signals, no score
    assert missing.decision == "human" and "does not give" in missing.reasons[0]


def test_thresholds_of_another_model_pause_every_reply(taxonomy: Taxonomy, values) -> None:  # type: ignore[no-untyped-def]
    from router.thresholds import ActiveThresholds, replies_paused

    assert replies_paused(3, "v0001", "v0001") is None
    assert replies_paused(3, None, "v0002") is None  # set by hand before any calibration: not known
    assert replies_paused(3, "v0001", None) is None
    why = ActiveThresholds(3, values, None, model_version="v0001").replies_paused("v0002")
    assert why == (  # the router client reads it: the versions, not the lead's commands
        "automated replies paused: thresholds version 3 were calibrated for model v0001, the service runs "
        "v0002"
    )
    decision = decide(predictions(), values, 3, taxonomy, "de", paused=why)
    assert decision.decision == "human" and decision.queue == "accounts"  # the queue threshold still routes
    assert decision.reasons[0] == why and decision.reply is None


def test_answerable_is_what_decide_answers_at_any_threshold(taxonomy: Taxonomy) -> None:
    """Calibration certifies only the messages `answerable` lets through: for every combination of line of
    business, topic and language it must agree with `decide` given a threshold of 0 for every topic."""
    from itertools import product

    from router.decide import answerable

    open_all = default_values(taxonomy)
    open_all["topic"] = dict.fromkeys(open_all["topic"], 0.0)
    lobs = taxonomy.label_set("line_of_business").class_names
    topics = taxonomy.label_set("topic").class_names
    checked = 0
    for lob, topic, language in product(lobs, topics, ("de", "en", "fi", None)):
        classes = {"line_of_business": lob, "queue": "accounts", "topic": topic}
        decision = decide(predictions(lob=lob, topic=topic), open_all, 1, taxonomy, language)
        assert answerable(taxonomy, classes, language) == (decision.decision == "auto_reply"), classes
        checked += decision.decision == "auto_reply"
    assert checked > 0  # some combinations are answered
