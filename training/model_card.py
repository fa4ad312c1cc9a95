"""The Markdown model card of a version, rendered from the data collected during training (its manifest)."""

from __future__ import annotations

import json
from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_model_card(manifest: dict[str, Any]) -> str:
    """A model card: what it is, what it learned from, how it did on held-out data, how it was trained."""
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
        f"- Base model: `{manifest['base_model']}`",
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
    lines.append(
        f"{dataset.get('train_messages', '?')} training and {dataset.get('eval_messages', '?')} held-out "
        f"messages (stratified split by message, eval fraction {config['eval_fraction']}, seed "
        f"{config['seed']}); message "
        f"IDs in `{dataset.get('file', 'dataset.json')}`."
    )
    for name, trunc in manifest.get("truncation", {}).items():
        lines.append(
            f"- {name}: {trunc['truncated']} of {trunc['texts']} training texts "
            f"({_pct(trunc['rate'])} %) longer than {trunc['max_seq_length']} tokens (median "
            f"{trunc.get('tokens_p50', '?')}, p90 {trunc.get('tokens_p90', '?')})"
        )
    lines += ["", "## Training run", ""]
    lines.append(f"- Device: {training.get('device', '?')} ({training.get('precision', '?')})")
    for report in training.get("bodies", []):
        cap = " — capped for CPU" if report.get("capped") else ""
        pseudo = report.get("pseudo_labeled")
        phase = f" (self-training: labeled + {pseudo} pseudo-labeled messages)" if pseudo else ""
        lines.append(
            f"- Body for {', '.join(report['label_sets'])}{phase}: {report['steps']} of "
            f"{report['planned_steps']} planned contrastive steps{cap}, {report['seconds']} s, final loss "
            f"{report.get('final_loss')}"
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
