"""The model bundle: what the export needs of a trained model, independent of how it was trained.

Per label set a logistic-regression head (`coef_`, `intercept_`, `classes_` in that order: the columns of
`predict_proba` follow the head's sorted `classes_`) and the name of its body; per body a
sentence-transformers directory and the number of tokens it reads. One body may serve every label set
(the shared variant) or each set has its own.

Two ways in: `bundle_from_version` (a registry version, the normal path) and `bundle_from_setfit` (SetFit
models in memory: tests, notebooks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.evidence import EVIDENCE_FILE
from training.export.errors import ExportError
from training.export.layout import SAFE_NAME
from training.registry import (
    HEAD_COEF,
    HEAD_INTERCEPT,
    HEAD_META,
    HEAD_PICKLE,
    ModelVersion,
    head_probabilities,
)

SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}


@dataclass(frozen=True)
class BodySpec:
    """A sentence-transformers directory and how many tokens of a text it reads."""

    key: str
    path: Path
    max_seq_length: int


@dataclass(frozen=True, eq=False)
class HeadSpec:
    """One label set's logistic-regression head.

    `coef` is (k, d) float32 with k = number of classes, or k = 1 for two classes (sklearn's binary
    logistic: p(classes[1]) = sigmoid(x @ coef[0] + intercept[0])). `reference` is the fitted sklearn head
    when there is one; the parity gate compares against its `predict_proba`.
    """

    label_set: str
    body: str
    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    reference: Any = None

    @property
    def binary(self) -> bool:
        return self.coef.shape[0] == 1

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities as the trained model computes them (columns = `classes`)."""
        if self.reference is not None:
            return np.asarray(self.reference.predict_proba(embeddings), dtype=np.float64)
        return head_probabilities(embeddings, self.coef, self.intercept)

    def check(self) -> None:
        if self.coef.ndim != 2 or self.intercept.shape != (self.coef.shape[0],):
            raise ExportError(
                f"head {self.label_set!r}: coef must be (k, d) and intercept (k,), got "
                f"{self.coef.shape} and {self.intercept.shape}"
            )
        n, k = len(self.classes), self.coef.shape[0]
        if n < 2 or not (k == n or (k == 1 and n == 2)):
            raise ExportError(f"head {self.label_set!r}: {k} coefficient rows do not fit {n} classes")
        if not (np.isfinite(self.coef).all() and np.isfinite(self.intercept).all()):
            raise ExportError(f"head {self.label_set!r} has NaN or infinite coefficients; retrain it")


@dataclass(frozen=True)
class ModelBundle:
    """Bodies and heads of one model version, ready to export."""

    version: str
    bodies: dict[str, BodySpec]
    heads: dict[str, HeadSpec]
    source: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Path] = field(default_factory=dict)  # by label set: training.evidence's file

    def __post_init__(self) -> None:
        if not self.heads:
            raise ExportError(f"model {self.version!r} has no heads to export")
        for name in [self.version, *self.bodies, *self.heads]:
            if not SAFE_NAME.match(name):
                raise ExportError(f"name {name!r} cannot be a file name (letters, digits, _ . - only)")
        for head in self.heads.values():
            if head.body not in self.bodies:
                raise ExportError(f"head {head.label_set!r} names unknown body {head.body!r}")
            head.check()

    def heads_of(self, body: str) -> list[HeadSpec]:
        return [h for h in self.heads.values() if h.body == body]


def read_body_modules(path: Path) -> list[str]:
    """The module types of a sentence-transformers directory; refuses modules the export cannot reproduce."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        raise ExportError(f"{path} is not a sentence-transformers directory (no modules.json)")
    names = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in json.loads(modules_file.read_text("utf-8"))]
    unsupported = [n for n in names if n not in SUPPORTED_MODULES]
    if unsupported or not names or names[0] != "Transformer":
        raise ExportError(
            f"body {path}: modules {names} are not supported (Transformer, Pooling and Normalize only)"
        )
    return names


def body_lowercases(path: Path) -> bool:
    """Whether sentence-transformers lower-cases texts before tokenising (`do_lower_case`)."""
    config = path / "sentence_bert_config.json"
    if not config.is_file():
        return False
    return bool(json.loads(config.read_text("utf-8")).get("do_lower_case", False))


def bundle_from_version(version: ModelVersion, load_reference: bool = True) -> ModelBundle:
    """The bundle of a registry version; the pickled sklearn heads become the parity reference."""
    problems = version.verify()
    if problems:
        raise ExportError(
            f"version {version.version} is corrupt, not exporting it: " + "; ".join(problems[:5])
        )
    bodies: dict[str, BodySpec] = {}
    heads: dict[str, HeadSpec] = {}
    evidence: dict[str, Path] = {}
    for name in version.label_sets:
        art = version.artifacts(name)
        body_key = str(version.manifest["label_sets"][name]["body"])
        bodies.setdefault(body_key, BodySpec(body_key, art.body_dir, art.max_seq_length))
        meta = json.loads((art.head_dir / HEAD_META).read_text("utf-8"))
        reference = None
        if load_reference and (art.head_dir / HEAD_PICKLE).is_file():
            import joblib

            reference = joblib.load(art.head_dir / HEAD_PICKLE)
        heads[name] = HeadSpec(
            label_set=name,
            body=body_key,
            classes=tuple(meta["classes"]),
            coef=np.load(art.head_dir / HEAD_COEF).astype(np.float32),
            intercept=np.load(art.head_dir / HEAD_INTERCEPT).astype(np.float32),
            reference=reference,
        )
        if (art.head_dir / EVIDENCE_FILE).is_file():
            evidence[name] = art.head_dir / EVIDENCE_FILE
    source = {
        "registry_version": version.version,
        "created_at": version.manifest.get("created_at"),
        "base_model": version.manifest.get("base_model"),
        "taxonomy": version.manifest.get("taxonomy"),
    }
    return ModelBundle(version.version, bodies, heads, source, evidence)


def bundle_from_setfit(models: Mapping[str, Any], directory: Path, version: str = "setfit") -> ModelBundle:
    """A bundle from SetFit models keyed by label set; bodies are saved under `directory`.

    Models that share one body object share one exported body. A model with `normalize_embeddings=True`
    gets a Normalize module appended to its saved body (setfit normalises outside the body).
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize

    bodies: dict[str, BodySpec] = {}
    heads: dict[str, HeadSpec] = {}
    saved: dict[int, str] = {}
    for name, model in models.items():
        body = model.model_body
        if id(body) not in saved:
            key = f"body{len(saved)}"
            path = directory / key
            has_norm = any(type(m).__name__ == "Normalize" for m in body)
            if getattr(model, "normalize_embeddings", False) and not has_norm:
                body = SentenceTransformer(modules=[*body, Normalize()], device="cpu")
            body.save(str(path), create_model_card=False)
            saved[id(model.model_body)] = key
            bodies[key] = BodySpec(key, path, int(body.max_seq_length))
        head = model.model_head
        if not hasattr(head, "coef_"):
            raise ExportError(f"label set {name!r}: only logistic-regression heads can be exported")
        labels = getattr(model, "labels", None)
        classes = [
            labels[int(c)] if labels and isinstance(c, int | np.integer) else str(c) for c in head.classes_
        ]
        heads[name] = HeadSpec(
            label_set=name,
            body=saved[id(model.model_body)],
            classes=tuple(classes),
            coef=np.asarray(head.coef_, dtype=np.float32),
            intercept=np.asarray(head.intercept_, dtype=np.float32),
            reference=head,
        )
    return ModelBundle(version, bodies, heads, {"setfit": True})
