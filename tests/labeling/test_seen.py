"""What a pull remembers of each message, on export rows shaped like Doccano 1.8.4's (no server needed).

The real thing (an annotator removed from a real Doccano's project drops out of its export) is tested in
`test_team_changes.py`; here, the rules.
"""

from __future__ import annotations

from labeling.comments import MARK, problem_comments
from labeling.seen import Seen, observe, remember_missing
from labeling.validate import validate_export
from postroom.taxonomy import Taxonomy
from tests.labeling.test_validate import GOOD, row

OTHER = ["lob:retail", "queue:payments", "topic:card_replacement"]


def test_observe_records_who_labeled_what_and_who_marked_it_done() -> None:
    export = {
        "anna": [row(1, GOOD), row(2, [])], "ben": [row(1, OTHER), row(2, [])], "postroom": [row(1, [])]
    }  # fmt: skip
    seen = observe(export, {"anna": {1, 2}})
    assert seen["m-1"] == Seen((1,), {"anna": tuple(sorted(GOOD)), "ben": tuple(sorted(OTHER))}, ("anna",))
    assert seen["m-2"].annotators == ("anna",)  # marked done without a label: seen too
    assert Seen.from_payload(seen["m-1"].payload()) == seen["m-1"]


def test_an_annotator_missing_from_the_export_still_counts_with_the_last_seen_labels(
    taxonomy: Taxonomy,
) -> None:
    before = {
        "anna": [row(1, GOOD), row(2, GOOD), row(3, [])], "ben": [row(1, OTHER), row(2, GOOD), row(3, GOOD)]
    }  # fmt: skip
    last = observe(before, {"ben": {3}})
    assert [p.message_id for p in validate_export(taxonomy, before).problems] == ["m-1"]

    after = {"anna": before["anna"]}  # ben was removed from the project: Doccano's export leaves him out
    assert [p.message_id for p in validate_export(taxonomy, after).problems] == []  # silently "agreed"
    remembered = remember_missing(after, {}, last)
    assert remembered.missing == {"ben": ["m-1", "m-2", "m-3"]}
    assert remembered.by_message["m-1"] == ("ben",) and remembered.confirmed == {"ben": {3}}
    validation = validate_export(taxonomy, remembered.export, remembered.confirmed)
    assert [p.message_id for p in validation.problems] == ["m-1"]  # the disagreement stays
    accepted = {a.message_id: a.annotators for a in validation.accepted}
    assert accepted == {"m-2": ("anna", "ben"), "m-3": ("ben",)}

    dropped = remember_missing(after, {}, last, drop=["ben"])  # the team lead stops counting ben
    assert dropped.missing == {}
    validation = validate_export(taxonomy, dropped.export, dropped.confirmed)
    assert [a.message_id for a in validation.accepted] == ["m-1", "m-2"] and validation.pending == 1

    gone = remember_missing({"anna": [row(2, GOOD)]}, {}, last)  # m-1 and m-3 deleted in Doccano
    assert gone.missing == {"ben": ["m-2"]}


def test_each_problem_becomes_one_comment_per_example_with_what_to_do(taxonomy: Taxonomy) -> None:
    two_topics = [*GOOD, "topic:fee_complaint"]
    anna = [row(1, GOOD[:2]), row(2, GOOD), row(3, GOOD, "m-dup"), row(4, two_topics, "m-dup")]
    ben = [row(1, []), row(2, OTHER), row(3, []), row(4, [])]
    result = validate_export(taxonomy, {"anna": anna, "ben": ben}, {"anna": {1}})
    texts = problem_comments(result.problems, result.duplicates)
    assert sorted(texts) == [1, 2, 3, 4]
    assert all(text.startswith(MARK) for text in texts.values())
    assert texts[1].splitlines()[0] == f"{MARK} not imported into Postroom: no label for topic (anna)"
    assert "Add a label for each set left out" in texts[1]
    assert "annotators disagree on queue: cards (anna), payments (ben)" in texts[2]
    assert "Settle it" in texts[2]
    assert texts[3] == texts[4] and "in the project 2 times (examples 3, 4)" in texts[3]
