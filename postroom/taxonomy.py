"""The taxonomy: label sets, their classes, and auto-reply templates, loaded from YAML and validated.

Label sets are data: a team can define two or four of them. `routing` says which set names the human
queue and which set's classes may carry an auto-reply template.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from postroom.errors import PostroomError, shown

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

#: The fields of an ingestion record (docs/ingestion.md) besides one per label set; a label set may not be
#: named like one, or its labels and the field would share a column (`postroom.ingest` uses this list).
RECORD_FIELDS = ("message_id", "subject", "sender", "received_at", "body", "html", "raw", "metadata")


def name_in_words(name: str) -> str:
    """A class name as words: `card_replacement` -> "card replacement"."""
    return " ".join(name.replace("_", " ").split())


class TaxonomyError(PostroomError):
    """The taxonomy file is missing or invalid, or a label is not in it."""

    status_code = 422


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplyTemplate(_Strict):
    """A pre-written self-service answer in one language."""

    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)


def _language_codes(codes: Iterable[str], problem: str) -> None:
    """Refuse the first of `codes` that is not an ISO 639-1 code as written (`fi`, not `Finnish` or `FI`)."""
    for lang in codes:
        if not re.fullmatch(r"[a-z]{2}", lang):
            raise ValueError(f"{problem}, got {lang!r}")


class ReplyFrame(_Strict):
    """The greeting and closing around every auto-reply body in one language."""

    greeting: str = ""
    closing: str = ""


class ClassDef(_Strict):
    """One class of a label set."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    examples: tuple[str, ...] = ()
    auto_reply: dict[str, ReplyTemplate] = Field(default_factory=dict)
    auto_reply_allowed: bool = True
    # the label's keyboard shortcut in Doccano (0-9, a-z), fixed whatever the classes' order; none: the next
    # free key in taxonomy order (labeling.project.taxonomy_shortcuts). Not part of the fingerprint.
    key: str | None = Field(None, pattern=r"^[0-9a-z]$")

    def texts(self) -> tuple[str, ...]:
        """What the taxonomy says about this class, as texts a classifier can learn from: the name in words
        (`card_replacement` -> "card replacement"), the description, and the examples."""
        candidates = (name_in_words(self.name), self.description.strip(), *(e.strip() for e in self.examples))
        return tuple(dict.fromkeys(t for t in candidates if t))

    @field_validator("auto_reply")
    @classmethod
    def _languages_are_codes(cls, value: dict[str, ReplyTemplate]) -> dict[str, ReplyTemplate]:
        _language_codes(value, "auto_reply language must be a two-letter code")
        return value


class LabelSet(_Strict):
    """A set of mutually exclusive classes; every message gets exactly one class per set."""

    name: str = Field(pattern=NAME_PATTERN)
    prefix: str = Field("", pattern=r"^$|^[a-z][a-z0-9_]*$")
    description: str = ""
    classes: tuple[ClassDef, ...]

    @field_validator("name")
    @classmethod
    def _not_a_record_field(cls, value: str) -> str:
        if value in RECORD_FIELDS:
            raise ValueError(
                f"label set name {value!r} is reserved: ingestion records have a field of that name "
                f"(reserved: {', '.join(RECORD_FIELDS)})"
            )
        return value

    @field_validator("classes")
    @classmethod
    def _non_empty_unique(cls, value: tuple[ClassDef, ...]) -> tuple[ClassDef, ...]:
        if len(value) < 2:
            raise ValueError(f"a label set needs at least two classes, got {len(value)}")
        seen: set[str] = set()
        for c in value:
            if c.name in seen:
                raise ValueError(f"duplicate class {c.name!r}")
            seen.add(c.name)
        return value

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def label_prefix(self) -> str:
        """Prefix used where labels of all sets share one namespace (Doccano): `lob` in `lob:retail`."""
        return self.prefix or self.name

    def get(self, class_name: str) -> ClassDef:
        for c in self.classes:
            if c.name == class_name:
                return c
        raise TaxonomyError(
            f"unknown class {shown(class_name)} in label set {self.name!r} "
            f"(known: {', '.join(self.class_names)})"
        )


class Routing(_Strict):
    """Which label sets drive routing."""

    queue_set: str = "queue"
    reply_set: str = "topic"
    triage_queue: str = "triage"


class Taxonomy(_Strict):
    """All label sets of one deployment."""

    name: str = Field(min_length=1)
    languages: tuple[str, ...] = ("en",)  # the languages clients write in (`coverage_warnings`)
    routing: Routing = Routing()
    reply_frames: dict[str, ReplyFrame] = Field(default_factory=dict)
    label_sets: tuple[LabelSet, ...]

    @field_validator("languages")
    @classmethod
    def _languages_are_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _language_codes(value, "languages must be two-letter codes (de, en, fi)")
        return value

    @field_validator("reply_frames")
    @classmethod
    def _frames_are_per_language(cls, value: dict[str, ReplyFrame]) -> dict[str, ReplyFrame]:
        # a frame under another key would never be used: its replies would go out bare
        _language_codes(value, "reply_frames keys must be two-letter language codes")
        return value

    def coverage_warnings(self) -> list[str]:
        """What the taxonomy leaves out that its users likely meant to cover: a language of `languages`
        without an auto-reply for templated classes (its mail predicted as them goes to a human), and a
        language with auto-replies but no reply frame (they go out without greeting and closing)."""
        reply_set = self.label_set(self.routing.reply_set)
        templated = [c for c in reply_set.classes if c.auto_reply]
        found = []
        for lang in self.languages:
            missing = [c.name for c in templated if lang not in c.auto_reply]
            if missing:
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                shown_names = ", ".join(missing[:5]) + more
                found.append(
                    f"no auto-reply in {lang} for {len(missing)} of the {len(templated)} templated classes "
                    f"({shown_names}): {lang} mail predicted as them goes to a human"
                )
        for lang in sorted({lang for c in templated for lang in c.auto_reply}):
            if lang not in self.reply_frames:
                found.append(
                    f"auto-replies in {lang} have no reply_frames.{lang}: they go out without greeting and "
                    "closing"
                )
        return found

    @model_validator(mode="after")
    def _check(self) -> Taxonomy:
        if not self.label_sets:
            raise ValueError("the taxonomy has no label sets")
        names = [s.name for s in self.label_sets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate label set {dupes[0]!r}")
        prefixes = [s.label_prefix for s in self.label_sets]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError(f"label set prefixes must be unique, got {prefixes}")
        for role, set_name in (("queue_set", self.routing.queue_set), ("reply_set", self.routing.reply_set)):
            if set_name not in names:
                raise ValueError(f"routing.{role} names unknown label set {set_name!r} (known: {names})")
        owners: dict[str, str] = {}
        for label_set in self.label_sets:
            for c in label_set.classes:
                if c.key is not None:
                    other = owners.setdefault(c.key, f"{label_set.name}.{c.name}")
                    if other != f"{label_set.name}.{c.name}":
                        raise ValueError(
                            f"key {c.key!r} is given to both {other} and {label_set.name}.{c.name}: a "
                            "shortcut key must be unique in the taxonomy (one Doccano project has every set)"
                        )
                if c.auto_reply and label_set.name != self.routing.reply_set:
                    raise ValueError(
                        f"class {label_set.name}.{c.name} has an auto_reply, but only classes of "
                        f"routing.reply_set {self.routing.reply_set!r} may have one"
                    )
        return self

    @property
    def set_names(self) -> list[str]:
        return [s.name for s in self.label_sets]

    def label_set(self, name: str) -> LabelSet:
        for s in self.label_sets:
            if s.name == name:
                return s
        raise TaxonomyError(f"unknown label set {shown(name)} (known: {', '.join(self.set_names)})")

    def validate_label(self, set_name: str, class_name: str) -> None:
        """Raise `TaxonomyError` unless `class_name` is a class of label set `set_name`."""
        self.label_set(set_name).get(class_name)

    def fingerprint(self) -> str:
        """A stable hash of the label sets and classes (what a trained model depends on)."""
        canonical = "|".join(f"{s.name}:{','.join(s.class_names)}" for s in self.label_sets)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# What each name pattern asks for, in words (pydantic would print the regular expression).
_PATTERN_WORDS = {
    NAME_PATTERN: "must be lower-case letters, digits and _, starting with a letter (card_replacement)",
    r"^[0-9a-z]$": "must be one character, 0-9 or a-z",
}


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "string_pattern_mismatch":
            msg = _PATTERN_WORDS.get(str((err.get("ctx") or {}).get("pattern")), msg)
        problems.append(f"{where}: {msg}")
    return f"{path}: invalid taxonomy: " + "; ".join(problems)


def parse_taxonomy(data: object, source: Path = Path("<taxonomy>")) -> Taxonomy:
    """Validate an already-parsed YAML document."""
    if not isinstance(data, dict):
        raise TaxonomyError(f"{source}: a taxonomy must be a YAML mapping, got {type(data).__name__}")
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise TaxonomyError(_format_validation_error(source, exc)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_taxonomy(path: Path) -> Taxonomy:
    """Load and validate a taxonomy file; every problem is reported with its location."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc}") from None
    stream = io.StringIO(text)
    stream.name = str(path)  # YAML's error marks name the file, not "<unicode string>"
    try:
        data = yaml.load(stream, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from None
    return parse_taxonomy(data, path)
