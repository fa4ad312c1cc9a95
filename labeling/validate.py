"""Check the experts' labels of an export: exactly one label per label set, and annotators agreeing.

Pure functions over Doccano's export (username -> rows), so every rule is tested without a server.
An example nobody has labeled yet is *pending*, not a problem; one an expert has not marked done and whose
labels are not yet one per label set (a set left out, or two labels of one set) is *in progress* (the expert
is still at it), not a problem either. An example with any problem
is reported with its message ID, what is wrong and who labeled it, and none of its labels are imported. A
message that is in the project more than once (a duplicate example) is listed; its copies' labels are merged
only when no annotator labeled two copies differently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from labeling.project import parse_label
from postroom.taxonomy import Taxonomy, TaxonomyError

ProblemKind = Literal["incomplete", "conflicting", "unknown_label", "no_message_id", "done_without_label"]
META_MESSAGE_ID = "message_id"


@dataclass(frozen=True)
class Problem:
    """An example whose labels are not imported, and why."""

    message_id: str | None
    example_ids: tuple[int, ...]
    kinds: tuple[ProblemKind, ...]
    details: tuple[str, ...]
    annotators: tuple[str, ...]
    named: tuple[str, ...] = ()  # annotators the details already name

    def __str__(self) -> str:
        where = self.message_id or f"Doccano example {', '.join(map(str, self.example_ids))}"
        rest = [a for a in self.annotators if a not in self.named]
        who = f" (labeled by {', '.join(rest)})" if rest else ""
        return f"{where}: {'; '.join(self.details)}{who}"


@dataclass(frozen=True)
class Accepted:
    """A message whose labels passed: one class per label set, agreed by everyone who labeled it."""

    message_id: str
    labels: dict[str, str]  # label set -> class
    annotators: tuple[str, ...]


@dataclass
class Validation:
    """The outcome for one export."""

    accepted: list[Accepted] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    pending: int = 0  # examples nobody has labeled yet
    in_progress: int = 0  # examples an annotator is still at: not marked done, not yet one label per set
    examples: int = 0
    duplicates: dict[str, tuple[int, ...]] = field(default_factory=dict)  # message ID -> its example ids


def duplicate_line(message_id: str, example_ids: Sequence[int]) -> str:
    """`message X is in the project twice (examples 12, 40): delete one in Doccano`."""
    times = "twice" if len(example_ids) == 2 else f"{len(example_ids)} times"
    shown = ", ".join(map(str, sorted(example_ids)))
    return f"message {message_id} is in the project {times} (examples {shown}): delete one in Doccano"


def _copy_conflicts(per_copy: Mapping[str, Mapping[int, Sequence[str]]]) -> list[tuple[str, str]]:
    """(detail, annotator) for each annotator who labeled two copies of one message differently."""
    found = []
    for annotator in sorted(per_copy):
        labeled = {e: sorted(set(names)) for e, names in sorted(per_copy[annotator].items()) if names}
        if len({tuple(names) for names in labeled.values()}) > 1:
            shown = "; ".join(f"example {e}: {', '.join(names)}" for e, names in labeled.items())
            found.append((f"its copies are labeled differently ({shown}) ({annotator})", annotator))
    return found


def row_message_id(row: Mapping[str, Any]) -> str | None:
    """The message ID an export row carries in its metadata (stripped), or None."""
    value = row.get(META_MESSAGE_ID)
    return str(value).strip() or None if value not in (None, "") else None


def validate_export(
    taxonomy: Taxonomy,
    annotations: Mapping[str, Sequence[Mapping[str, Any]]],
    confirmed: Mapping[str, Collection[int]] | None = None,
) -> Validation:
    """Validate every example of an export (username -> that annotator's rows).

    `confirmed` (username -> example ids that user marked done) finds examples marked done without any
    label, and examples in progress: an annotator has not marked the example done and its labels are not yet
    one per label set (a set left out, or two of one set), so nothing of it is imported or reported yet.
    Without it, an example nobody labeled is pending and a missing set or a second label is a problem.
    """
    # message (or example, when it has no message ID) -> annotator -> label names
    labels_by_key: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    done_unlabeled: dict[str, set[str]] = defaultdict(set)
    done_by: dict[str, set[str]] = defaultdict(set)  # key -> annotators who marked an example of it done
    example_ids: dict[str, set[int]] = defaultdict(set)
    # key -> annotator -> example id -> label names (a message can be in the project twice)
    per_copy: dict[str, dict[str, dict[int, list[str]]]] = defaultdict(lambda: defaultdict(dict))
    message_ids: dict[str, str | None] = {}
    for annotator, rows in annotations.items():
        done = set((confirmed or {}).get(annotator, ()))
        for row in rows:
            message_id = row_message_id(row)
            key = f"m:{message_id}" if message_id else f"e:{row.get('id')}"
            message_ids[key] = message_id
            example_ids[key].add(int(row.get("id", 0)))
            labels_by_key[key]
            names = [str(label) for label in row.get("label") or []]
            per_copy[key][annotator][int(row.get("id", 0))] = names
            if row.get("id") in done:
                done_by[key].add(annotator)
            if names:
                labels_by_key[key][annotator].extend(names)
            elif row.get("id") in done:
                done_unlabeled[key].add(annotator)
    result = Validation(examples=len(labels_by_key))
    for key, ids in sorted(example_ids.items()):
        if message_ids[key] is not None and len(ids) > 1:
            result.duplicates[str(message_ids[key])] = tuple(sorted(ids))
    for key in sorted(labels_by_key):
        per_annotator = labels_by_key[key]
        if not per_annotator and not done_unlabeled[key]:
            result.pending += 1
            continue
        if confirmed is not None and any(  # each copy on its own: two copies labeled apart are a conflict
            annotator not in done_by[key]
            and any(_unsettled(taxonomy, names) for names in per_copy[key][annotator].values() if names)
            for annotator in per_annotator
        ):
            result.in_progress += 1
            continue
        outcome = _check_one(
            taxonomy,
            message_ids[key],
            tuple(sorted(example_ids[key])),
            per_annotator,
            tuple(sorted(done_unlabeled[key])),
            _copy_conflicts(per_copy[key]) if len(example_ids[key]) > 1 else [],
        )
        if isinstance(outcome, Problem):
            result.problems.append(outcome)
        else:
            result.accepted.append(outcome)
    return result


def _unsettled(taxonomy: Taxonomy, names: Sequence[str]) -> bool:
    """Whether the label names are not yet one per label set: a set without a label, or with two (an
    expert changing a label adds the new one before removing the old). False for a name not in the
    taxonomy, which is a problem to report whatever else is wrong."""
    chosen: dict[str, set[str]] = defaultdict(set)
    for name in names:
        try:
            set_name, class_name = parse_label(taxonomy, name)
        except TaxonomyError:
            return False
        chosen[set_name].add(class_name)
    return any(len(chosen.get(s, ())) != 1 for s in taxonomy.set_names)


def _check_one(
    taxonomy: Taxonomy,
    message_id: str | None,
    example_ids: tuple[int, ...],
    per_annotator: Mapping[str, Sequence[str]],
    done_unlabeled: tuple[str, ...] = (),
    copy_conflicts: Sequence[tuple[str, str]] = (),
) -> Accepted | Problem:
    annotators = tuple(sorted(per_annotator))
    kinds: list[ProblemKind] = []
    details: list[str] = []
    named = set(done_unlabeled)  # annotators a detail names
    if copy_conflicts:  # a duplicate example labeled differently: never merged silently
        kinds.append("conflicting")
        details.extend(detail for detail, _ in copy_conflicts)
        named.update(who for _, who in copy_conflicts)
    if message_id is None:
        kinds.append("no_message_id")
        details.append("no message_id in the example's metadata (not pushed by Postroom)")
    if done_unlabeled:
        kinds.append("done_without_label")
        details.append(
            "marked done without any label: the expert may have found it unclear "
            f"({', '.join(done_unlabeled)})"
        )
    split = {who for _, who in copy_conflicts}  # their copies' detail already says what is wrong
    chosen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # set -> class -> who
    for annotator in annotators:
        mine: dict[str, set[str]] = defaultdict(set)
        for name in dict.fromkeys(per_annotator[annotator]):
            try:
                set_name, class_name = parse_label(taxonomy, name)
            except TaxonomyError:
                kinds.append("unknown_label")
                details.append(f"label {name!r} is not in the taxonomy ({annotator})")
                named.add(annotator)
                continue
            mine[set_name].add(class_name)
        missing = [s for s in taxonomy.set_names if not mine.get(s)]
        if missing and annotator not in split:
            kinds.append("incomplete")
            details.append(f"no label for {', '.join(missing)} ({annotator})")
            named.add(annotator)
        for set_name, classes in mine.items():
            if len(classes) > 1 and annotator not in split:
                kinds.append("conflicting")
                details.append(
                    f"{len(classes)} labels for {set_name}: {', '.join(sorted(classes))} ({annotator})"
                )
                named.add(annotator)
            for class_name in classes:
                chosen[set_name][class_name].add(annotator)
    disagreements = _disagreements(taxonomy, chosen)
    if disagreements:
        kinds.append("conflicting")
        details.extend(detail for detail, _ in disagreements)
        named.update(who for _, voters in disagreements for who in voters)
    if kinds:
        ordered = tuple(dict.fromkeys(kinds))
        everyone = tuple(sorted({*annotators, *done_unlabeled}))
        mentioned = tuple(a for a in everyone if a in named)
        return Problem(message_id, example_ids, ordered, tuple(details), everyone, mentioned)
    assert message_id is not None
    labels = {s: next(iter(chosen[s])) for s in taxonomy.set_names}
    return Accepted(message_id, labels, annotators)


def _disagreements(
    taxonomy: Taxonomy, chosen: Mapping[str, Mapping[str, set[str]]]
) -> list[tuple[str, set[str]]]:
    """Sets where different annotators chose different classes: (detail, the annotators it names)."""
    found = []
    for set_name in taxonomy.set_names:
        votes = chosen.get(set_name, {})
        voters = {a for who in votes.values() for a in who}
        if len(votes) > 1 and len(voters) > 1:
            shown = ", ".join(f"{c} ({', '.join(sorted(who))})" for c, who in sorted(votes.items()))
            found.append((f"annotators disagree on {set_name}: {shown}", voters))
    return found
