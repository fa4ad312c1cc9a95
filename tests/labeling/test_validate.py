"""Validation of the experts' labels, on export rows shaped exactly like Doccano 1.8.4's JSONL export."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.doccano import LabelType, Project
from labeling.errors import DoccanoError
from labeling.project import (
    SHORTCUT_KEYS,
    assign_shortcuts,
    check_project_kind,
    guideline_markdown,
    label_text,
    parse_label,
    set_colours,
    shortcut_drift,
    taxonomy_shortcuts,
    text_colour,
    wanted_labels,
)
from labeling.validate import duplicate_line, validate_export
from postroom.taxonomy import Taxonomy, TaxonomyError, parse_taxonomy

GOOD = ["lob:retail", "queue:cards", "topic:card_replacement"]


def row(example_id: int, labels: list[str], message_id: str | None = None) -> dict[str, Any]:
    """One line of a per-annotator export file: id, text, flattened metadata, label, Comments."""
    data: dict[str, Any] = {"id": example_id, "text": "…", "language": "en", "subject": "s", "label": labels}
    data["message_id"] = message_id if message_id is not None else f"m-{example_id}"
    return {**data, "Comments": []}


def test_labels_are_prefixed_by_set_and_map_back(taxonomy: Taxonomy) -> None:
    assert label_text(taxonomy, "line_of_business", "retail") == "lob:retail"
    assert label_text(taxonomy, "topic", "card_replacement") == "topic:card_replacement"
    assert parse_label(taxonomy, "lob:brokerage") == ("line_of_business", "brokerage")
    for bad in ("retail", "lob:nope", "zzz:retail"):
        with pytest.raises(TaxonomyError):
            parse_label(taxonomy, bad)
    assert len(wanted_labels(taxonomy)) == sum(len(s.classes) for s in taxonomy.label_sets)


def test_one_colour_per_set_with_readable_text(taxonomy: Taxonomy) -> None:
    colours = set_colours(taxonomy)
    assert len(set(colours.values())) == len(taxonomy.label_sets)
    labels = wanted_labels(taxonomy)
    assert {labels[f"queue:{c}"] for c in taxonomy.label_set("queue").class_names} == {colours["queue"]}
    assert text_colour("#ffffff") == "#000000" and text_colour("#1f77b4") == "#ffffff"


def test_guideline_names_every_class_with_its_description(taxonomy: Taxonomy) -> None:
    text = guideline_markdown(taxonomy)
    assert "exactly one label of each of the 3 label sets" in text
    for label_set in taxonomy.label_sets:
        for c in label_set.classes:
            assert f"`{label_set.label_prefix}:{c.name}`" in text
            assert c.description.replace("|", "/") in text


def test_every_label_gets_a_unique_single_key_shortcut_listed_in_the_guideline(taxonomy: Taxonomy) -> None:
    labels = list(wanted_labels(taxonomy))
    keys = assign_shortcuts(labels)
    assert len(labels) <= 36 and set(keys) == set(labels)
    assert len(set(keys.values())) == len(keys) and all(k in SHORTCUT_KEYS for k in keys.values())
    assert keys["lob:retail"] == "1"  # in taxonomy order: 1-9, 0, then a-z
    text = guideline_markdown(taxonomy)
    assert "| `1` | `lob:retail` |" in text and "**Enter** to mark the email done" in text
    # labels that have keys keep them; the others get keys nobody uses; past 36 keys, none
    kept = assign_shortcuts(["x", "lob:retail", "queue:cards"], {"x": "1", "lob:retail": "q"})
    assert kept == {"x": "1", "lob:retail": "q", "queue:cards": "2"}
    many = assign_shortcuts([f"l{i}" for i in range(40)])
    assert len(many) == 36 and "l39" not in many
    assert "| – | `lob:retail` |" in guideline_markdown(taxonomy, {})


def test_a_key_fixed_in_the_taxonomy_stays_when_classes_are_reordered(taxonomy: Taxonomy) -> None:
    data = taxonomy.model_dump(mode="json", exclude_none=True)
    topic = next(s for s in data["label_sets"] if s["name"] == "topic")
    topic["classes"][-1]["key"] = "z"  # the last topic, fixed on z
    keyed = taxonomy_shortcuts(parse_taxonomy(data))
    last = label_text(taxonomy, "topic", topic["classes"][-1]["name"])
    assert keyed[last] == "z" and sorted(keyed.values()) == sorted(set(keyed.values()))
    topic["classes"].insert(0, topic["classes"].pop())  # move it first, as a lead tidying the file would
    moved = taxonomy_shortcuts(parse_taxonomy(data))
    assert moved[last] == "z"  # the expert's key for it did not move
    first_other = label_text(taxonomy, "topic", topic["classes"][1]["name"])
    assert moved[first_other] == keyed[first_other]  # nor did the next class's (the keyed one takes none)
    assert "| `z` | `" + last + "` |" in guideline_markdown(parse_taxonomy(data))


def test_the_guideline_keys_come_from_the_taxonomy_and_drifted_keys_are_named(taxonomy: Taxonomy) -> None:
    keys = taxonomy_shortcuts(taxonomy)
    labels = list(wanted_labels(taxonomy))
    assert list(keys) == labels and list(keys.values()) == list(SHORTCUT_KEYS[: len(labels)])
    assert guideline_markdown(taxonomy) == guideline_markdown(taxonomy, keys)
    project = [LabelType(i, text, suffix_key=keys[text]) for i, text in enumerate(labels)]
    assert shortcut_drift(taxonomy, project) == []
    # Doccano after some edits: lob:retail recreated by someone without a key, queue:cards renamed (it kept
    # its key), a topic moved to z, a label of someone else's on `ctrl 2` (the page binds `2` alone)
    edited = [
        LabelType(100, "lob:retail"),
        LabelType(101, "queue:cards-old", suffix_key=keys["queue:cards"]),
        *(t for t in project if t.text not in ("lob:retail", "queue:cards", "topic:card_replacement")),
        LabelType(102, "topic:card_replacement", suffix_key="z"),
        LabelType(103, "their:own", suffix_key=keys["lob:business"], prefix_key="ctrl"),
    ]
    drift = shortcut_drift(taxonomy, edited)
    assert [str(d) for d in drift] == [
        "lob:retail has no key, the guideline's is 1",
        f"queue:cards-old (not a label of the guideline) has key {keys['queue:cards']}, the guideline's key "
        "of queue:cards",
        f"topic:card_replacement has key z, the guideline's is {keys['topic:card_replacement']}",
        f"their:own (not a label of the guideline) has key ctrl {keys['lob:business']}, the guideline's key "
        "of lob:business",
    ]


def test_complete_labels_of_one_annotator_are_accepted(taxonomy: Taxonomy) -> None:
    result = validate_export(
        taxonomy, {"anna": [row(1, GOOD), row(2, [])], "postroom": [row(1, []), row(2, [])]}
    )
    assert result.examples == 2 and result.pending == 1 and result.problems == []
    [accepted] = result.accepted
    assert accepted.message_id == "m-1" and accepted.annotators == ("anna",)
    assert accepted.labels == {"line_of_business": "retail", "queue": "cards", "topic": "card_replacement"}


def test_a_missing_set_is_incomplete_and_names_the_annotator(taxonomy: Taxonomy) -> None:
    result = validate_export(taxonomy, {"anna": [row(1, GOOD[:2])]})
    [problem] = result.problems
    assert problem.kinds == ("incomplete",) and problem.annotators == ("anna",)
    assert str(problem) == "m-1: no label for topic (anna)"  # the annotator named once
    assert result.accepted == []


def test_a_set_left_out_before_the_expert_marked_it_done_is_in_progress_not_a_problem(
    taxonomy: Taxonomy,
) -> None:
    """The guideline says Enter marks an email done: until then a missing set is work in progress."""
    rows = {"anna": [row(1, GOOD[:2]), row(2, GOOD[:1]), row(3, GOOD)], "ben": [row(3, GOOD[:1])]}
    result = validate_export(taxonomy, rows, {"anna": {2}, "ben": set()})
    assert result.in_progress == 2  # m-1 (anna at work), m-3 (ben at work; anna's labels wait for him)
    [problem] = result.problems  # m-2: anna marked it done with one set only
    assert problem.message_id == "m-2" and problem.kinds == ("incomplete",)
    assert result.accepted == [] and result.pending == 0
    finished = validate_export(taxonomy, {"anna": [row(1, GOOD)]}, {"anna": set()})
    assert [a.message_id for a in finished.accepted] == ["m-1"]  # every set labeled: imported, done or not


def test_two_labels_of_one_set_conflict(taxonomy: Taxonomy) -> None:
    result = validate_export(taxonomy, {"anna": [row(1, [*GOOD, "topic:fee_complaint"])]})
    [problem] = result.problems
    assert problem.kinds == ("conflicting",)
    assert "2 labels for topic: card_replacement, fee_complaint (anna)" in problem.details
    assert str(problem) == "m-1: 2 labels for topic: card_replacement, fee_complaint (anna)"



def test_two_labels_of_one_set_before_the_expert_marked_it_done_is_in_progress_not_a_problem(
    taxonomy: Taxonomy,
) -> None:
    """An expert changing a label may add the new one before removing the old: no problem while not done."""
    changing = [*GOOD, "topic:fee_complaint"]
    result = validate_export(taxonomy, {"anna": [row(1, changing)]}, {"anna": set()})
    assert result.in_progress == 1 and result.problems == [] and result.accepted == []
    done = validate_export(taxonomy, {"anna": [row(1, changing)]}, {"anna": {1}})
    assert done.in_progress == 0 and [p.kinds for p in done.problems] == [("conflicting",)]
    unknown = validate_export(taxonomy, {"anna": [row(1, [*GOOD[:2], "topic:weather"])]}, {"anna": set()})
    assert unknown.problems[0].kinds[0] == "unknown_label"  # a label no key gives: reported at once
    assert "done or not" in guideline_markdown(taxonomy)

def test_an_annotator_not_named_by_a_problem_is_listed_once_at_the_end(taxonomy: Taxonomy) -> None:
    result = validate_export(taxonomy, {"anna": [row(1, GOOD)], "ben": [row(1, GOOD[:2])]})
    [problem] = result.problems
    assert str(problem) == "m-1: no label for topic (ben) (labeled by anna)"
    result = validate_export(taxonomy, {"anna": [row(2, GOOD, message_id="")]})
    assert str(result.problems[0]).endswith("(not pushed by Postroom) (labeled by anna)")


def test_marked_done_without_any_label_is_a_problem_not_pending(taxonomy: Taxonomy) -> None:
    export = {"anna": [row(1, []), row(2, []), row(3, GOOD)], "ben": [row(1, []), row(2, []), row(3, [])]}
    confirmed = {"anna": [1, 3], "ben": [3]}  # anna: 1 done unlabeled; ben: 3 done unlabeled, anna labeled it
    result = validate_export(taxonomy, export, confirmed)
    assert result.examples == 3 and result.pending == 1 and result.accepted == []
    problems = {p.message_id: p for p in result.problems}
    assert problems["m-1"].kinds == ("done_without_label",)
    assert str(problems["m-1"]) == (
        "m-1: marked done without any label: the expert may have found it unclear (anna)"
    )
    assert problems["m-3"].annotators == ("anna", "ben")
    assert str(problems["m-3"]).endswith("may have found it unclear (ben) (labeled by anna)")
    assert validate_export(taxonomy, export).pending == 2  # without the done marks: as before


def test_annotators_who_disagree_conflict_and_who_agree_are_both_credited(taxonomy: Taxonomy) -> None:
    other = ["lob:retail", "queue:payments", "topic:card_replacement"]
    result = validate_export(
        taxonomy, {"anna": [row(1, GOOD), row(2, GOOD)], "ben": [row(1, other), row(2, GOOD)]}
    )
    [problem] = result.problems
    assert problem.message_id == "m-1" and problem.annotators == ("anna", "ben")
    assert problem.details == ("annotators disagree on queue: cards (anna), payments (ben)",)
    [accepted] = result.accepted
    assert accepted.message_id == "m-2" and accepted.annotators == ("anna", "ben")


def test_unknown_labels_and_examples_without_message_id_are_problems(taxonomy: Taxonomy) -> None:
    result = validate_export(
        taxonomy, {"anna": [row(1, [*GOOD[:2], "topic:weather"]), row(2, GOOD, message_id="")]}
    )
    kinds = {p.message_id: p.kinds for p in result.problems}
    assert kinds["m-1"] == ("unknown_label", "incomplete")
    assert kinds[None] == ("no_message_id",)
    assert "Doccano example 2" in str(next(p for p in result.problems if p.message_id is None))


def test_a_message_in_the_project_twice_is_listed_and_differently_labeled_copies_are_not_merged(
    taxonomy: Taxonomy,
) -> None:
    other = ["lob:retail", "queue:cards", "topic:card_payment_declined"]
    anna = [row(12, GOOD, "m-dup"), row(40, other, "m-dup"), row(7, GOOD, "m-same"), row(9, GOOD, "m-same")]
    ben = [row(12, [], "m-dup"), row(40, [], "m-dup"), row(7, [], "m-same"), row(9, [], "m-same")]
    export = {"anna": anna, "ben": ben}
    result = validate_export(taxonomy, export)
    assert result.duplicates == {"m-dup": (12, 40), "m-same": (7, 9)}
    assert [a.message_id for a in result.accepted] == ["m-same"]  # same labels on both copies: merged
    (problem,) = result.problems
    assert problem.kinds == ("conflicting",) and problem.example_ids == (12, 40)
    assert str(problem) == (
        "m-dup: its copies are labeled differently (example 12: lob:retail, queue:cards, "
        "topic:card_replacement; example 40: lob:retail, queue:cards, topic:card_payment_declined) (anna)"
    )
    assert duplicate_line("m-dup", (40, 12)) == (
        "message m-dup is in the project twice (examples 12, 40): delete one in Doccano"
    )
    assert "3 times (examples 1, 2, 3)" in duplicate_line("m", (3, 1, 2))


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ({"project_type": "SequenceLabeling"}, "is a SequenceLabeling project: Postroom needs text"),
        ({"single_class_classification": True}, "allows one label per example"),
        ({"collaborative_annotation": True}, "collaborative annotation on"),
    ],
)
def test_a_project_experts_could_not_label_right_is_refused(kind: dict[str, Any], reason: str) -> None:
    with pytest.raises(DoccanoError, match=reason):
        check_project_kind(Project(1, "p", **kind))
    check_project_kind(Project(1, "p", project_type="DocumentClassification"))  # ours: no error
