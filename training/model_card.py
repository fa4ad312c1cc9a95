"""The Markdown model card of a version, rendered from the data collected during training (its manifest,
its held-out reports and its dataset file), and the per-class review `postroom models show` prints.

Weak classes: a class is flagged when its held-out F1 is below `WEAK_F1_BAR`, or more than `WEAK_F1_GAP`
below its label set's macro-F1 (a class the others hide in the average). A class without held-out
examples has no F1 (n/a), is never flagged, and is left out of macro-F1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.registry import DATASET_FILE, EVAL_DIR, REPORT_JSON
from training.split import split_line

WEAK_F1_BAR = 0.70
WEAK_F1_GAP = 0.10
TOP_CONFUSIONS = 3
WEAK_RULE = f"F1 below {WEAK_F1_BAR:.2f}, or more than {WEAK_F1_GAP:.2f} below the label set's macro-F1"


@dataclass(frozen=True)
class ClassReview:
    """One class of a label set on held-out data; `f1` etc. are None without held-out examples."""

    name: str
    train: int | None
    support: int
    precision: float | None
    recall: float | None
    f1: float | None
    weak: bool


@dataclass(frozen=True)
class Confusion:
    """Held-out messages of class `true` predicted as `predicted`: `count` of the class's `support`."""

    true: str
    predicted: str
    count: int
    support: int

    def __str__(self) -> str:
        return f"{self.true} → {self.predicted}: {self.count} of {self.support}"


@dataclass(frozen=True)
class LabelSetReview:
    """Per-class figures of one label set, from `eval/<label set>/report.json` and the dataset file."""

    name: str
    macro_f1: float | None
    classes: list[ClassReview]
    confusions: list[Confusion]
    problem: str | None = None  # why the per-class report could not be read (then `classes` is empty)

    @property
    def weak(self) -> list[ClassReview]:
        return [c for c in self.classes if c.weak]

    @property
    def without_eval(self) -> list[str]:
        return [c.name for c in self.classes if c.support == 0]

    def coverage_note(self) -> str | None:
        """A line naming the classes without held-out examples, or None when every class had some."""
        missing = self.without_eval
        if not missing:
            return None
        have, total = len(self.classes) - len(missing), len(self.classes)
        return (
            f"no held-out examples for {', '.join(missing)}: F1 n/a (not a failure, not measured); "
            f"macro-F1 is over {have} of {total} classes"
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _train_counts(root: Path, name: str) -> dict[str, int]:
    """Training examples per class of label set `name` from the dataset file; empty when not recorded."""
    try:
        counts = _read_json(root / DATASET_FILE)["label_sets"][name]["counts"]
        return {str(c): int(n["train"]) for c, n in counts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def is_weak(f1: float | None, macro_f1: float | None) -> bool:
    """The weak-class rule (module docstring): never for a class without held-out examples."""
    if f1 is None:
        return False
    return f1 < WEAK_F1_BAR or (macro_f1 is not None and f1 < macro_f1 - WEAK_F1_GAP)


def review_label_set(root: Path, manifest: dict[str, Any], name: str) -> LabelSetReview:
    """The per-class review of label set `name` of the version (or staging directory) at `root`."""
    classes = list(manifest["label_sets"][name]["classes"])
    macro = _number(manifest["metrics"].get(name, {}).get("macro_f1"))
    path = root / EVAL_DIR / name / REPORT_JSON
    try:
        report = _read_json(path)
        per_class, matrix = report["per_class"], report["confusion_matrix"]
        if len(matrix) != len(classes) or any(len(row) != len(classes) for row in matrix):
            raise ValueError("confusion matrix does not match the classes")
        cells = [[int(v) for v in row] for row in matrix]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = f"no per-class report ({path.relative_to(root).as_posix()}: {exc})"
        return LabelSetReview(name, macro, [], [], problem)
    train = _train_counts(root, name)
    rows = []
    for index, cls in enumerate(classes):
        figures = per_class.get(cls, {}) if isinstance(per_class, dict) else {}
        support = sum(cells[index])
        measured = support > 0
        f1 = _number(figures.get("f1-score")) if measured else None
        rows.append(
            ClassReview(
                name=cls,
                train=train.get(cls),
                support=support,
                precision=_number(figures.get("precision")) if measured else None,
                recall=_number(figures.get("recall")) if measured else None,
                f1=f1,
                weak=is_weak(f1, macro),
            )
        )
    confusions = sorted(
        (
            Confusion(classes[i], classes[j], count, sum(cells[i]))
            for i, row in enumerate(cells)
            for j, count in enumerate(row)
            if i != j and count > 0
        ),
        key=lambda c: (-c.count, -c.count / c.support, c.true, c.predicted),
    )
    return LabelSetReview(name, macro, rows, confusions[:TOP_CONFUSIONS])


def review_version(root: Path, manifest: dict[str, Any]) -> list[LabelSetReview]:
    """The per-class review of every evaluated label set of the version at `root`."""
    return [
        review_label_set(root, manifest, name)
        for name in manifest["metrics"]
        if name in manifest["label_sets"]
    ]


def step_lines(manifest: dict[str, Any]) -> list[str]:
    """One line per trained body: contrastive steps run of those planned, and whether a cap cut them."""
    lines = []
    training = manifest.get("training", {})
    for report in training.get("bodies", []):
        sets = ", ".join(report.get("label_sets", [])) or "?"
        steps, planned = report.get("steps", "?"), report.get("planned_steps", "?")
        if report.get("capped"):
            cap = (
                f"CAPPED at {report.get('step_cap')} steps on {training.get('device_type', 'this device')} "
                "(`postroom train --full` runs the full schedule)"
            )
        else:
            cap = "not capped"
        pseudo = report.get("pseudo_labeled")
        phase = f" (self-training: labeled + {pseudo} pseudo-labeled messages)" if pseudo else ""
        lines.append(f"body for {sets}{phase}: {steps} of {planned} planned contrastive steps, {cap}")
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _per_class_lines(review: LabelSetReview) -> list[str]:
    lines = ["", f"### {review.name} (macro-F1 {_num(review.macro_f1)})", ""]
    if review.problem:
        return [*lines, f"Per-class figures unavailable: {review.problem}."]
    lines += [
        "| class | training examples | held-out | precision | recall | F1 | |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in review.classes:
        flag = "**weak**" if c.weak else ""
        train = "?" if c.train is None else str(c.train)
        lines.append(
            f"| {c.name} | {train} | {c.support} | {_num(c.precision)} | {_num(c.recall)} | {_num(c.f1)} | "
            f"{flag} |"
        )
    lines.append("")
    if review.confusions:
        lines.append(
            "Most confused (true → predicted): " + "; ".join(str(c) for c in review.confusions) + "."
        )
    else:
        lines.append("No held-out message of one class was predicted as another.")
    if note := review.coverage_note():
        lines += ["", note[0].upper() + note[1:] + "."]
    return lines


def render_model_card(manifest: dict[str, Any], root: Path | None = None) -> str:
    """A model card: what it is, what it learned from, how it did on held-out data, how it was trained.

    `root` is the version's directory (or its staging directory while it is published): with it, the card
    has a per-class table of each label set from its `eval/<label set>/report.json` and the dataset file.
    """
    config = manifest["config"]
    training = manifest.get("training", {})
    lines = [
        f"# Postroom model {manifest['version']}",
        "",
        f"Routes client email of taxonomy **{manifest['taxonomy']['name']}** "
        f"(fingerprint `{manifest['taxonomy']['fingerprint']}`). Trained {manifest['created_at']}; stage at "
        f"training: candidate (see `manifest.json` for the current stage and its history).",
        "",
        "## Model",
        "",
        f"- Base model: `{manifest['base_model']}`" + _base_digest(manifest),
        _code_line(manifest),
        f"- Variant: **{manifest['variant']}** "
        + (
            "(one fine-tuned body shared by every label set, one head per label set)"
            if manifest["variant"] == "shared"
            else "(one fine-tuned body per label set)"
        ),
        f"- Method: SetFit (setfit {manifest.get('libraries', {}).get('setfit', '?')}): contrastive "
        f"fine-tuning of the body with `{config['loss']}`, then a logistic-regression head "
        f"(C={config['head_c']})"
        + (
            ", which also learns the taxonomy's class names and descriptions"
            if config.get("class_texts")
            else ""
        )
        + (
            ", its probabilities calibrated by a temperature cross-validated on the training examples"
            if config.get("calibrate_head")
            else ""
        )
        + ".",
    ]
    for name, report in manifest.get("training", {}).get("self_training", {}).items():
        lines.append(
            f"- Head `{name}` self-trained on {report['pool']} unlabeled messages "
            f"({report['rounds']} rounds, {report['pseudo_labeled']} pseudo-labels in the last)."
        )
    for key, body in manifest["bodies"].items():
        lines.append(
            f"- Body `{key}`: max_seq_length {body['max_seq_length']} tokens, {body['embedding_dim']}-dim "
            f"embeddings, normalized: {body['normalize']}"
        )
    lines += [
        "",
        "## Held-out evaluation",
        "",
        "| label set | classes | eval messages | accuracy | macro-F1 | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for name, metrics in manifest["metrics"].items():
        classes = len(manifest["label_sets"][name]["classes"])
        lines.append(
            f"| {name} | {classes} | {metrics.get('n_eval', 0)} | {_pct(metrics.get('accuracy'))} | "
            f"{_pct(metrics.get('macro_f1'))} | {_num(metrics.get('ece'))} |"
        )
    if root is not None:
        lines += ["", "## Per class", "", f"Weak classes (**weak**): {WEAK_RULE}."]
        for review in review_version(root, manifest):
            lines += _per_class_lines(review)
    lines += ["", "Per-class precision, recall and F1 are in `eval/<label set>/report.json`; plots:", ""]
    for name, metrics in manifest["metrics"].items():
        plots = metrics.get("plots", {})
        if plots:
            lines.append(
                f"- {name}: [confusion matrix](eval/{name}/{plots['confusion_matrix']}), "
                f"[reliability diagram](eval/{name}/{plots['reliability']})"
            )
    lines += ["", "## Training data", ""]
    dataset = manifest.get("dataset", {})
    how = (
        split_line(dataset["split"])
        if dataset.get("split")
        else f"stratified split by message, eval fraction {config['eval_fraction']}, seed {config['seed']}"
    )
    lines.append(
        f"{dataset.get('train_messages', '?')} training and {dataset.get('eval_messages', '?')} held-out "
        f"messages ({how}); message IDs in `{dataset.get('file', 'dataset.json')}`."
    )
    for name, trunc in manifest.get("truncation", {}).items():
        lines.append(
            f"- {name}: {trunc['truncated']} of {trunc['texts']} training texts "
            f"({_pct(trunc['rate'])} %) longer than {trunc['max_seq_length']} tokens (median "
            f"{trunc.get('tokens_p50', '?')}, p90 {trunc.get('tokens_p90', '?')})"
        )
    lines += ["", "## Training run", ""]
    lines.append(f"- Device: {training.get('device', '?')} ({training.get('precision', '?')})")
    for report, line in zip(training.get("bodies", []), step_lines(manifest), strict=True):
        lines.append(
            f"- {line[0].upper()}{line[1:]}; {report.get('seconds')} s, final loss {report.get('final_loss')}"
        )
    lines.append(f"- Total training time: {training.get('seconds', '?')} s")
    lines += [
        "",
        "Hyper-parameters:",
        "",
        "```json",
        json.dumps(config, indent=2),
        "```",
        "",
        "## Intended use and limits",
        "",
        "Routing suggestions for the client-service team; low-confidence predictions go to a human "
        "queue (router thresholds). Figures above come from a held-out split of the same labeled store, "
        "not from future traffic; a class with few held-out messages has a wide error margin.",
        "",
    ]
    return "\n".join(lines)


def _base_digest(manifest: dict[str, Any]) -> str:
    digest = (manifest.get("provenance") or {}).get("base_model_sha256")
    return f" (its files' SHA-256 `{digest[:16]}…`)" if digest else ""


def _code_line(manifest: dict[str, Any]) -> str:
    found = manifest.get("provenance")
    if not found:
        return "- Code: not recorded (trained before Postroom recorded it)"
    commit = found.get("git_commit")
    where = f", commit `{commit[:12]}`" if commit else ", no git commit recorded"
    dirty = " with uncommitted changes" if found.get("git_uncommitted_changes") else ""
    return f"- Code: Postroom {found.get('postroom_version') or '?'}{where}{dirty}"
