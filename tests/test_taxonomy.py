from pathlib import Path
from typing import Any

import pytest
import yaml

from postroom.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy
from tests.conftest import REPO_ROOT

DEFAULT = REPO_ROOT / "postroom" / "resources" / "taxonomy.yaml"


def small(*sets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "routing": {"queue_set": sets[0]["name"], "reply_set": sets[-1]["name"]},
        "label_sets": list(sets),
        **extra,
    }


def label_set(name: str, *classes: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "classes": [{"name": c} for c in classes], **extra}


def test_default_taxonomy_has_three_label_sets_and_templates_in_both_languages() -> None:
    taxonomy = load_taxonomy(DEFAULT)
    assert taxonomy.set_names == ["line_of_business", "queue", "topic"]
    assert len(taxonomy.label_set("topic").classes) >= 10
    assert len(taxonomy.label_set("queue").classes) == 5
    templated = [c for c in taxonomy.label_set("topic").classes if c.auto_reply]
    assert templated and all(set(c.auto_reply) == {"de", "en"} for c in templated)
    assert len(taxonomy.fingerprint()) == 16


@pytest.mark.parametrize("n_sets", [2, 4])
def test_a_team_can_use_two_or_four_label_sets(n_sets: int) -> None:
    sets = [label_set(f"set{i}", "a", "b") for i in range(n_sets)]
    assert len(parse_taxonomy(small(*sets)).label_sets) == n_sets


def test_duplicate_class_is_named() -> None:
    with pytest.raises(TaxonomyError, match=r"label_sets\.0\.classes: duplicate class 'a'"):
        parse_taxonomy(small(label_set("queue", "a", "a", "b"), label_set("topic", "x", "y")))


def test_unknown_field_is_named() -> None:
    data = small(label_set("queue", "a", "b"), label_set("topic", "x", "y"))
    data["label_sets"][1]["classes"][0]["colour"] = "red"
    with pytest.raises(TaxonomyError, match=r"label_sets\.1\.classes\.0\.colour: unknown field"):
        parse_taxonomy(data)


def test_empty_label_set_is_rejected() -> None:
    with pytest.raises(TaxonomyError, match="at least two classes, got 0"):
        parse_taxonomy(small(label_set("queue"), label_set("topic", "x", "y")))


def test_no_label_sets_is_rejected() -> None:
    with pytest.raises(TaxonomyError, match="no label sets"):
        parse_taxonomy({"name": "t", "label_sets": []})


def test_routing_must_name_existing_sets() -> None:
    data = small(label_set("queue", "a", "b"), label_set("topic", "x", "y"))
    data["routing"]["reply_set"] = "intent"
    with pytest.raises(TaxonomyError, match="routing.reply_set names unknown label set 'intent'"):
        parse_taxonomy(data)


def test_auto_reply_only_on_the_reply_set() -> None:
    data = small(label_set("queue", "a", "b"), label_set("topic", "x", "y"))
    data["label_sets"][0]["classes"][0]["auto_reply"] = {"en": {"subject": "s", "body": "b"}}
    with pytest.raises(TaxonomyError, match="only classes of routing.reply_set"):
        parse_taxonomy(data)


def test_unknown_label_names_the_known_classes() -> None:
    taxonomy = load_taxonomy(DEFAULT)
    with pytest.raises(TaxonomyError, match="unknown class 'mortgage' in label set 'queue' .*payments"):
        taxonomy.validate_label("queue", "mortgage")
    with pytest.raises(TaxonomyError, match="unknown label set 'intent'"):
        taxonomy.validate_label("intent", "x")


def test_broken_yaml_and_missing_file_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("label_sets: [unclosed\n")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(bad)
    with pytest.raises(TaxonomyError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "missing.yaml")
    bad.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(TaxonomyError, match="must be a YAML mapping"):
        load_taxonomy(bad)


def test_class_texts_are_the_name_in_words_the_description_and_the_examples() -> None:
    spec = small(
        label_set("queue", "cards", "payments"),
        {
            "name": "topic",
            "classes": [
                {
                    "name": "card_replacement",
                    "description": " A card is lost or stolen. ",
                    "examples": ["Please block my card", "card replacement", " "],
                },
                {"name": "other"},
            ],
        },
    )
    classes = parse_taxonomy(spec).label_set("topic").classes
    assert classes[0].texts() == ("card replacement", "A card is lost or stolen.", "Please block my card")
    assert classes[1].texts() == ("other",)


@pytest.mark.parametrize(("position", "name"), [(0, "body"), (1, "message_id"), (1, "metadata")])
def test_label_set_named_like_an_ingestion_field_is_rejected_where_it_is(position: int, name: str) -> None:
    sets = [label_set("queue", "a", "b"), label_set("topic", "x", "y")]
    sets[position]["name"] = name
    where = rf"label_sets\.{position}\.name: label set name '{name}' is reserved"
    with pytest.raises(TaxonomyError, match=where):
        parse_taxonomy(small(*sets))


def test_duplicate_yaml_key_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "name: t\nrouting: {queue_set: queue, reply_set: queue}\n"
        "label_sets:\n  - name: queue\n    classes: [{name: a}, {name: b}]\nname: u\n"
    )
    with pytest.raises(TaxonomyError, match=r"not valid YAML: duplicate key 'name'\n.*line 6, column 1"):
        load_taxonomy(path)
    path.write_text(
        "name: t\nbase: &b {name: queue, classes: [{name: a}, {name: b}]}\n"
        "label_sets: [{<<: *b, name: queue}]\nrouting: {queue_set: queue, reply_set: queue}\n"
    )
    with pytest.raises(TaxonomyError, match="base: unknown field"):  # a merge key overriding is no duplicate
        load_taxonomy(path)


def test_a_class_may_fix_its_shortcut_key_once_in_the_taxonomy() -> None:
    data = small(label_set("queue", "a", "b"), label_set("topic", "x", "y"))
    data["label_sets"][1]["classes"][0]["key"] = "q"
    taxonomy = parse_taxonomy(data)
    assert taxonomy.label_set("topic").get("x").key == "q"
    unkeyed = parse_taxonomy(small(label_set("queue", "a", "b"), label_set("topic", "x", "y")))
    assert taxonomy.fingerprint() == unkeyed.fingerprint()  # keys are for people, not for models
    data["label_sets"][0]["classes"][1]["key"] = "q"
    with pytest.raises(TaxonomyError, match=r"key 'q' is given to both queue\.b and topic\.x"):
        parse_taxonomy(data)
    data["label_sets"][0]["classes"][1]["key"] = "Q"  # Doccano 1.8.4 takes 0-9 and a-z only
    with pytest.raises(TaxonomyError, match=r"label_sets\.0\.classes\.1\.key: must be one character, 0-9"):
        parse_taxonomy(data)


def test_languages_and_reply_frame_keys_are_language_codes() -> None:
    sets = (label_set("queue", "a", "b"), label_set("topic", "x", "y"))
    with pytest.raises(TaxonomyError, match="languages must be two-letter codes .* got 'Finnish'"):
        parse_taxonomy(small(*sets, languages=["Finnish", "en"]))
    with pytest.raises(TaxonomyError, match="reply_frames keys must be two-letter language codes, got 'suo"):
        parse_taxonomy(small(*sets, reply_frames={"suomi": {"greeting": "Hei,"}}))


def test_check_warns_where_replies_or_frames_are_missing_for_a_language() -> None:
    reply = {"subject": "s", "body": "b"}
    topic = {
        "name": "topic",
        "classes": [
            {"name": "x", "auto_reply": {"en": reply, "de": reply}},
            {"name": "y", "auto_reply": {"en": reply}},
            {"name": "z"},
        ],
    }
    taxonomy = parse_taxonomy(
        small(label_set("queue", "a", "b"), topic, languages=["en", "de", "fi"], reply_frames={"en": {}})
    )
    assert taxonomy.coverage_warnings() == [
        "no auto-reply in de for 1 of the 2 templated classes (y): de mail predicted as them goes to a human",
        "no auto-reply in fi for 2 of the 2 templated classes (x, y): fi mail predicted as them goes to a "
        "human",
        "auto-replies in de have no reply_frames.de: they go out without greeting and closing",
    ]
    assert load_taxonomy(DEFAULT).coverage_warnings() == []  # the demo's: both languages, both frames


def test_errors_name_the_file_and_say_what_a_name_must_be(tmp_path: Path) -> None:
    tabbed = tmp_path / "tabbed.yaml"
    tabbed.write_text("name: x\nlabel_sets:\n\t- name: q\n")
    with pytest.raises(TaxonomyError, match=rf'in "{tabbed}", line 3, column 1'):
        load_taxonomy(tabbed)
    named = small(
        {"name": "queue", "classes": [{"name": "Bad-Name"}, {"name": "b", "key": "AB"}]},
        label_set("topic", "x", "y"),
    )
    with pytest.raises(TaxonomyError) as raised:
        parse_taxonomy(named)
    wanted = "label_sets.0.classes.0.name: must be lower-case letters, digits and _, starting with a letter"
    assert wanted in str(raised.value)
    assert "label_sets.0.classes.1.key: must be one character, 0-9 or a-z" in str(raised.value)
    assert "String should match pattern" not in str(raised.value)
