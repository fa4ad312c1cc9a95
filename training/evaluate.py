"""Held-out evaluation of one label set: metrics, classification report, confusion matrix, reliability.

Plots are PNG files (matplotlib, Agg backend). Macro-F1 averages over the classes present in the held-out
labels; a class with no held-out example is listed with support 0, precision, recall and F1 null (not
measured, never 0.0) and left out of the average.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CONFUSION_PNG = "confusion_matrix.png"
RELIABILITY_PNG = "reliability.png"
N_BINS = 10


def calibration_bins(proba: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS) -> dict[str, Any]:
    """Top-label confidence vs accuracy in equal-width bins (None for an empty bin), and the expected
    calibration error (ECE)."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        mask = which == b
        count = int(mask.sum())
        acc = conf = None  # an empty bin has neither (null in report.json: strict JSON has no NaN)
        if count:
            acc = float(correct[mask].mean())
            conf = float(confidence[mask].mean())
            ece += count / len(y_true) * abs(acc - conf)
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "accuracy": acc,
                "confidence": conf,
            }
        )
    return {"bins": bins, "ece": float(ece)}


def compute_metrics(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix and calibration.

    A class without held-out examples (support 0) has None for precision, recall and F1.
    """
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    y_pred = proba.argmax(axis=1)
    present = sorted(set(int(y) for y in y_true))
    report = classification_report(
        y_true,
        y_pred,
        labels=list(range(len(classes))),
        target_names=classes,
        output_dict=True,
        zero_division=0,
    )
    per_class = {
        c: {
            k: float(report[c][k]) if i in present or k == "support" else None
            for k in ("precision", "recall", "f1-score", "support")
        }
        for i, c in enumerate(classes)
    }
    calibration = calibration_bins(proba, y_true)
    return {
        "n_eval": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)),
        "ece": calibration["ece"],
        "per_class": per_class,
        "classes_without_eval_examples": [c for i, c in enumerate(classes) if i not in present],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(range(len(classes)))).tolist(),
        "calibration": calibration["bins"],
    }


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: list[list[int]], classes: list[str], title: str, path: Path) -> None:
    """A confusion matrix PNG (rows: true class, columns: predicted class), with counts in the cells."""
    plt = _pyplot()
    data = np.asarray(matrix)
    size = max(4.0, 0.45 * len(classes) + 2.0)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(classes) <= 30:
        threshold = data.max() / 2 if data.size else 0
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                if data[i, j]:
                    ax.text(
                        j,
                        i,
                        str(data[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if data[i, j] > threshold else "black",
                    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(bins: list[dict[str, float]], ece: float, title: str, path: Path) -> None:
    """A reliability diagram PNG: accuracy per confidence bin against the diagonal, bin counts below."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    centers = [(b["lower"] + b["upper"]) / 2 for b in bins]
    width = bins[0]["upper"] - bins[0]["lower"]
    accuracy = [b["accuracy"] or 0.0 for b in bins]
    top.bar(centers, accuracy, width=width * 0.95, color="#4c72b0", edgecolor="black", label="accuracy")
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.set_title(f"{title} (ECE {ece:.3f})")
    top.legend(loc="upper left")
    bottom.bar(centers, [b["count"] for b in bins], width=width * 0.95, color="#999999")
    bottom.set_xlabel("confidence of the predicted class")
    bottom.set_ylabel("messages")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_label_set(
    name: str, classes: list[str], y_true: list[int], proba: np.ndarray, out_dir: Path
) -> dict[str, Any]:
    """Metrics of one label set on its held-out split; writes the two PNGs into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = np.asarray(y_true, dtype=int)
    if len(truth) == 0:
        return {"n_eval": 0, "accuracy": None, "macro_f1": None, "ece": None, "plots": {}}
    metrics = compute_metrics(truth, proba, classes)
    plot_confusion(metrics["confusion_matrix"], classes, f"{name}: confusion matrix", out_dir / CONFUSION_PNG)
    plot_reliability(
        metrics["calibration"], metrics["ece"], f"{name}: reliability", out_dir / RELIABILITY_PNG
    )
    metrics["plots"] = {"confusion_matrix": CONFUSION_PNG, "reliability": RELIABILITY_PNG}
    return metrics
