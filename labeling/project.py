"""How a taxonomy looks in Doccano: one multi-label project, labels `prefix:class`, one colour per label set.

Every label set shares one namespace in Doccano, so a label is named with its set's prefix
(`lob:retail`, `queue:cards`, `topic:card_replacement`). The expert picks exactly one label of each set;
the guideline, generated from the taxonomy, says so and describes every class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labeling.doccano import PROJECT_TYPE, DoccanoClient, LabelType, Project
from labeling.errors import DoccanoError, ProjectNotFound
from postroom.taxonomy import Taxonomy, TaxonomyError

SEPARATOR = ":"
SHORTCUT_KEYS = "1234567890abcdefghijklmnopqrstuvwxyz"  # Doccano 1.8.4's allowed suffix keys, in our order
# Well separated colours (Tableau 10); label set i gets colour i (mod 10).
SET_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def label_text(taxonomy: Taxonomy, set_name: str, class_name: str) -> str:
    """`queue:cards` for class `cards` of label set `queue` (validated against the taxonomy)."""
    taxonomy.validate_label(set_name, class_name)
    return f"{taxonomy.label_set(set_name).label_prefix}{SEPARATOR}{class_name}"


def parse_label(taxonomy: Taxonomy, text: str) -> tuple[str, str]:
    """(label set, class) of a Doccano label name.

    Raises:
        TaxonomyError: no label set has that prefix, or the set has no such class.
    """
    prefix, sep, class_name = text.partition(SEPARATOR)
    if not sep:
        raise TaxonomyError(f"label {text!r} has no `prefix{SEPARATOR}` part")
    for label_set in taxonomy.label_sets:
        if label_set.label_prefix == prefix:
            label_set.get(class_name)
            return label_set.name, class_name
    raise TaxonomyError(f"label {text!r}: no label set has prefix {prefix!r}")


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on `background` (#rrggbb)."""
    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


def set_colours(taxonomy: Taxonomy) -> dict[str, str]:
    """Label set name -> background colour."""
    return {s.name: SET_COLOURS[i % len(SET_COLOURS)] for i, s in enumerate(taxonomy.label_sets)}


def wanted_labels(taxonomy: Taxonomy) -> dict[str, str]:
    """Every Doccano label name of the taxonomy -> its background colour, in taxonomy order."""
    colours = set_colours(taxonomy)
    return {
        label_text(taxonomy, s.name, c.name): colours[s.name] for s in taxonomy.label_sets for c in s.classes
    }


def assign_shortcuts(labels: Sequence[str], taken: Mapping[str, str] | None = None) -> dict[str, str]:
    """Label name -> a single-key shortcut, unique in the project, for every label that gets one.

    `taken` holds the shortcuts labels already have (label name -> key): those are kept and no other
    label gets their key. The others get the free keys of `SHORTCUT_KEYS` in order (1-9, 0, a-z). Beyond 36
    labels, the rest get none (Doccano 1.8.4 allows only 0-9 and a-z, and its annotation page ignores the
    prefix keys).
    """
    keys = dict(taken or {})
    free = iter(k for k in SHORTCUT_KEYS if k not in set(keys.values()))
    for label in labels:
        if label not in keys:
            key = next(free, None)
            if key is not None:
                keys[label] = key
    return {label: keys[label] for label in labels if label in keys}


def taxonomy_shortcuts(taxonomy: Taxonomy) -> dict[str, str]:
    """The guideline's keys: label name -> key, from the taxonomy alone, so the same label always has the
    same key, whatever Doccano's project holds (keys that drifted there are put back by `ensure_project`).
    A class's `key:` in the taxonomy is its key; the others get the free keys in taxonomy order (1-9, 0,
    a-z), so reordering or inserting classes moves only the keys of classes without a `key:` after them."""
    fixed = {
        label_text(taxonomy, s.name, c.name): c.key
        for s in taxonomy.label_sets
        for c in s.classes
        if c.key is not None
    }
    return assign_shortcuts(list(wanted_labels(taxonomy)), fixed)


@dataclass(frozen=True)
class KeyDrift:
    """A label type in Doccano whose shortcut is not the guideline's: one of the taxonomy's labels with
    another key (or none), or any other label holding a key the guideline gives to one of the taxonomy's."""

    label: str
    has: str | None  # its key in Doccano (the suffix key; `ctrl 1` when a prefix is set)
    wants: str | None  # the guideline's key (None: the label must not hold one)
    owner: str | None = None  # for `wants=None`: the taxonomy's label the key belongs to

    def __str__(self) -> str:
        has = f"key {self.has}" if self.has else "no key"
        if self.wants is not None:
            return f"{self.label} has {has}, the guideline's is {self.wants}"
        return f"{self.label} (not a label of the guideline) has {has}, the guideline's key of {self.owner}"


def _shown_key(label: LabelType) -> str | None:
    if not label.suffix_key:
        return None
    return f"{label.prefix_key} {label.suffix_key}" if label.prefix_key else label.suffix_key


def shortcut_drift(taxonomy: Taxonomy, label_types: Sequence[LabelType]) -> list[KeyDrift]:
    """The project's label types whose keys are not the guideline's (see `KeyDrift`), in the project's order.

    1.8.4's annotation page binds the suffix key alone, so a key with a prefix is still that key: another
    label's `ctrl 1` takes `1` from the label the guideline gives it to, and a prefix on one of ours drifts.
    Labels of the taxonomy missing from the project are not listed here (`label check` names them).
    """
    keys = taxonomy_shortcuts(taxonomy)
    owners = {key: label for label, key in keys.items()}
    found = []
    for label in label_types:
        if label.text in keys:
            if label.suffix_key != keys[label.text] or label.prefix_key:
                found.append(KeyDrift(label.text, _shown_key(label), keys[label.text]))
        elif label.suffix_key in owners:  # not ours (or ours past 36 labels): sits on a key of ours
            found.append(KeyDrift(label.text, _shown_key(label), None, owners[label.suffix_key]))
    return found


def guideline_markdown(taxonomy: Taxonomy, shortcuts: Mapping[str, str] | None = None) -> str:
    """The annotation guideline Doccano shows the expert, generated from the taxonomy.

    `shortcuts` (label name -> key) are the keyboard shortcuts; by default the taxonomy's
    (`taxonomy_shortcuts`), which `ensure_project` gives the project.
    """
    colours = set_colours(taxonomy)
    if shortcuts is None:
        shortcuts = taxonomy_shortcuts(taxonomy)
    lines = [
        f"# Labeling guideline: {taxonomy.name}",
        "",
        f"Pick **exactly one label of each of the {len(taxonomy.label_sets)} label sets** below for every "
        "email, then press Enter. An email you have not marked done is still yours while a set has no label "
        "or two: Postroom takes nothing of it and reports nothing. Once it has exactly one label of each "
        "set it is imported, done or not. An email marked done with a set left out, or with two labels of "
        "one set, is not imported into Postroom; the team lead sees it as a problem and may ask you about "
        "it.",
        "",
        "Label names start with the set's prefix (`prefix:class`); each set has its own colour. The metadata "
        "panel shows the message ID, the language, the subject, the sender and when the email arrived.",
        "",
        "**Keyboard:** press a label's key (column *key*) to add or remove it, **Enter** to mark the email "
        "done (again: not done), **→** / **←** for the next / previous email.",
        "",
    ]
    for label_set in taxonomy.label_sets:
        lines += [
            f"## {label_set.name} (`{label_set.label_prefix}:`, colour {colours[label_set.name]})",
            "",
        ]
        if label_set.description:
            lines += [label_set.description, ""]
        lines += ["| key | label | when to use it |", "|---|---|---|"]
        for c in label_set.classes:
            when = c.description or "(no description)"
            if c.examples:
                when += " Examples: " + "; ".join(f"“{e}”" for e in c.examples)
            name = f"{label_set.label_prefix}{SEPARATOR}{c.name}"
            key = f"`{shortcuts[name]}`" if name in shortcuts else "–"
            lines.append(f"| {key} | `{name}` | {when.replace('|', '/')} |")
        lines.append("")
    lines.append(f"Taxonomy fingerprint: `{taxonomy.fingerprint()}`")
    return "\n".join(lines)  # no trailing newline: Doccano strips it, and we compare


@dataclass(frozen=True)
class ProjectLayout:
    """A Doccano project set up for a taxonomy, with its label ids."""

    project: Project
    label_ids: dict[str, int]  # Doccano label name -> label type id
    keys_restored: tuple[KeyDrift, ...] = ()  # shortcut keys `ensure_project` put back (what they were)

    @property
    def id(self) -> int:
        return self.project.id


def _description(taxonomy: Taxonomy) -> str:
    return (
        f"Postroom labeling for taxonomy {taxonomy.name} ({', '.join(taxonomy.set_names)}); "
        f"fingerprint {taxonomy.fingerprint()}. Managed by Postroom: label types and guideline are "
        "overwritten."
    )


def ensure_project(client: DoccanoClient, taxonomy: Taxonomy, name: str) -> ProjectLayout:
    """Find or create the project, and bring its guideline, label types and keys in line with the taxonomy.

    Idempotent. Label types Doccano has that the taxonomy lacks are left alone (pull reports their use),
    except that a key the guideline gives to one of the taxonomy's labels is taken from them. Every label of
    the taxonomy gets the guideline's key (`taxonomy_shortcuts`): a label deleted or renamed in Doccano and
    created again gets its old key back, and keys edited in Doccano are put back (`keys_restored`).
    """
    project = client.find_project(name)
    if project is None:
        project = client.create_project(name, _description(taxonomy), guideline_markdown(taxonomy))
    check_project_kind(project)
    wanted = wanted_labels(taxonomy)
    keys = taxonomy_shortcuts(taxonomy)
    existing = {label.text: label for label in client.label_types(project.id)}
    drift = shortcut_drift(taxonomy, list(existing.values()))
    # Free every key that moves first: Doccano refuses a key another label of the project still holds.
    for item in drift:
        label = existing[item.label]
        if label.suffix_key or label.prefix_key:
            label = client.update_label_type(project.id, label, suffix_key=None, prefix_key=None)
            existing[item.label] = label
    label_ids: dict[str, int] = {}
    for text, colour in wanted.items():
        label: LabelType | None = existing.get(text)
        if label is None:
            label = client.create_label_type(
                project.id, text, colour, text_colour(colour), suffix_key=keys.get(text)
            )
        else:
            changes: dict[str, str | None] = {}
            if label.background_color.lower() != colour:
                changes.update(background_color=colour, text_color=text_colour(colour))
            if label.suffix_key != keys.get(text):
                changes["suffix_key"] = keys.get(text)
            if changes:
                label = client.update_label_type(project.id, label, **changes)
        label_ids[text] = label.id
    guideline = guideline_markdown(taxonomy, keys)
    if project.guideline.strip() != guideline or project.description.strip() != _description(taxonomy):
        project = client.update_project(project, guideline=guideline, description=_description(taxonomy))
    return ProjectLayout(project, label_ids, tuple(drift))


def open_project(client: DoccanoClient, taxonomy: Taxonomy, name: str) -> ProjectLayout:
    """The existing project, without changing it.

    Raises:
        ProjectNotFound: nothing was pushed yet.
    """
    project = client.find_project(name)
    if project is None:
        raise ProjectNotFound(
            f"Doccano at {client.base_url} has no project {name!r}: "
            "push messages first (`postroom label push`)"
        )
    check_project_kind(project)
    wanted = wanted_labels(taxonomy)
    label_ids = {label.text: label.id for label in client.label_types(project.id) if label.text in wanted}
    return ProjectLayout(project, label_ids)


def check_project_kind(project: Project) -> None:
    """Refuse a project experts could not label right: another type than text classification, one label
    per example (three label sets need three), or collaborative annotation (one shared set of labels).

    Raises:
        DoccanoError: what is wrong and what to do.
    """
    if project.project_type and project.project_type != PROJECT_TYPE:
        raise DoccanoError(
            f"Doccano project {project.name!r} is a {project.project_type} project: Postroom needs text "
            f"classification ({PROJECT_TYPE}); set POSTROOM_DOCCANO_PROJECT to another name and "
            "`postroom label push` creates one"
        )
    if project.single_class_classification:
        raise DoccanoError(
            f"Doccano project {project.name!r} allows one label per example: each email needs one label per "
            "label set; switch off 'Allow single label' in the project's settings"
        )
    if project.collaborative_annotation:
        raise DoccanoError(
            f"Doccano project {project.name!r} has collaborative annotation on: Postroom needs each expert's "
            "labels separately to find conflicts; switch it off in the project's settings"
        )
