"""What a pull saw of each message: who labeled it with what, and what the project agreed on.

Doccano's export has one file per *member* of the project: an annotator removed from the project (or a
deleted user) drops out of it, labels and all, although their labels stay in Doccano's database. Without a
memory, a pull would then see only the others: a disagreement would silently turn into agreement, and an
example only they labeled into one nobody labeled. So every pull records per message (an `AuditEvent`
`labeling.annotations_seen`, only when it changed) each annotator's labels, who marked it done, and the
labels the project agreed on; the next pull adds the last-seen labels of annotators missing from the export
back in (`remember_missing`), names them, and keeps counting them until the team lead adds the annotator
back to the project or drops them (`postroom label pull --drop-annotator NAME`).

The agreed labels let pulls of different projects compare notes: a message sent to two projects whose
experts disagree is a conflict in both, instead of each pull overwriting the other's labels.

Pure functions over export rows and record payloads; `labeling.sync` reads and writes the records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labeling.validate import META_MESSAGE_ID, row_message_id


@dataclass(frozen=True)
class Seen:
    """One message as a pull saw it in one project."""

    example_ids: tuple[int, ...]
    labels: dict[str, tuple[str, ...]]  # annotator -> label names (sorted), annotators with labels only
    done: tuple[str, ...] = ()  # annotators who marked it done (with or without labels)
    accepted: dict[str, str] | None = None  # label set -> class the project agreed on (None: no agreement)

    @property
    def annotators(self) -> tuple[str, ...]:
        """Everyone whose work on it a pull saw: labels, or marked done."""
        return tuple(sorted({*self.labels, *self.done}))

    def payload(self) -> dict[str, Any]:
        return {
            "example_ids": list(self.example_ids),
            "labels": {a: list(names) for a, names in sorted(self.labels.items())},
            "done": list(self.done),
            "accepted": dict(self.accepted) if self.accepted is not None else None,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Seen:
        accepted = payload.get("accepted")
        return cls(
            tuple(int(i) for i in payload.get("example_ids") or ()),
            {str(a): tuple(map(str, names)) for a, names in (payload.get("labels") or {}).items()},
            tuple(map(str, payload.get("done") or ())),
            {str(k): str(v) for k, v in accepted.items()} if isinstance(accepted, dict) else None,
        )


def observe(
    export: Mapping[str, Sequence[Mapping[str, Any]]], confirmed: Mapping[str, Collection[int]]
) -> dict[str, Seen]:
    """message_id -> what the export shows of it (messages nobody labeled or marked done included, with
    empty labels); rows without a message ID are left out."""
    example_ids: dict[str, set[int]] = defaultdict(set)
    labels: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    done: dict[str, set[str]] = defaultdict(set)
    for annotator, rows in export.items():
        marked = set(confirmed.get(annotator, ()))
        for row in rows:
            message_id = row_message_id(row)
            if message_id is None:
                continue
            example_id = int(row.get("id", 0))
            example_ids[message_id].add(example_id)
            names = [str(name) for name in row.get("label") or []]
            if names:
                labels[message_id][annotator].update(names)
            if example_id in marked:
                done[message_id].add(annotator)
    return {
        m: Seen(
            tuple(sorted(ids)),
            {a: tuple(sorted(names)) for a, names in sorted(labels[m].items())},
            tuple(sorted(done[m])),
        )
        for m, ids in example_ids.items()
    }


@dataclass
class Remembered:
    """Annotators missing from an export, whose last-seen labels were added back."""

    export: dict[str, list[dict[str, Any]]]
    confirmed: dict[str, set[int]]
    missing: dict[str, list[str]] = field(default_factory=dict)  # annotator -> message IDs, sorted
    by_message: dict[str, tuple[str, ...]] = field(default_factory=dict)  # message ID -> missing annotators


def remember_missing(
    export: Mapping[str, Sequence[Mapping[str, Any]]],
    confirmed: Mapping[str, Collection[int]],
    last: Mapping[str, Seen],
    *,
    drop: Collection[str] = (),
) -> Remembered:
    """The export with the last-seen labels (and done marks) of annotators it leaves out added back.

    An annotator is missing from the export when they have no file in it (a member has one, with every
    example of the project). `last` is message_id -> the last record of this project; only messages still
    in the export are looked at (a deleted example is reported as deleted). Annotators in `drop` are not
    added back: the team lead accepted that their labels no longer count.
    """
    members = set(export)
    in_export = {m for rows in export.values() for row in rows if (m := row_message_id(row)) is not None}
    result = Remembered(
        export={a: [dict(r) for r in rows] for a, rows in export.items()},
        confirmed={a: set(ids) for a, ids in confirmed.items()},
    )
    missing: dict[str, set[str]] = defaultdict(set)
    by_message: dict[str, set[str]] = defaultdict(set)
    for message_id in sorted(in_export & set(last)):
        seen = last[message_id]
        example_id = seen.example_ids[0] if seen.example_ids else 0
        for annotator in seen.annotators:
            if annotator in members or annotator in drop:
                continue
            labels = list(seen.labels.get(annotator, ()))
            result.export.setdefault(annotator, []).append(
                {"id": example_id, META_MESSAGE_ID: message_id, "label": labels}
            )
            if annotator in seen.done:
                result.confirmed.setdefault(annotator, set()).add(example_id)
            missing[annotator].add(message_id)
            by_message[message_id].add(annotator)
    result.missing = {a: sorted(ids) for a, ids in sorted(missing.items())}
    result.by_message = {m: tuple(sorted(who)) for m, who in by_message.items()}
    return result

