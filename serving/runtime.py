"""The model runtime: ONNX Runtime sessions, the `tokenizers` tokenizer, heads inside the graph. No torch.

One `OnnxClassifier` holds one session per body of an export. It is immutable once built, so any number of
request threads may use it; a model swap builds a new one (see `serving.lifecycle`).

Texts are prepared as sentence-transformers does (stripped, lower-cased when the body says so), sorted by
length and run in batches of at most `max_batch` so padding stays short; results come back in input order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from postroom.runtime import check_onnxruntime
from serving.artifacts import ExportManifest, read_export, verify_file
from serving.config import ProviderChoice
from serving.errors import ModelUnavailable

log = logging.getLogger("postroom.serving")
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
TOP_K = 3


def choose_providers(preference: ProviderChoice = "auto") -> list[str]:
    """Execution providers in priority order: CUDA when asked for or available, the CPU always last.

    Raises:
        RuntimeSetupError: no ONNX Runtime, both builds installed, or `cuda` asked for but not available.
    """
    import onnxruntime as ort

    flavour = check_onnxruntime()
    available = ort.get_available_providers()
    cuda_ok = flavour == "gpu" and CUDA in available
    if preference == "cuda" and not cuda_ok:
        from postroom.runtime import RuntimeSetupError

        raise RuntimeSetupError(
            f"the CUDA provider was asked for but is not available (installed build: onnxruntime "
            f"{'GPU' if flavour == 'gpu' else 'CPU'}; providers: {', '.join(available)}); install "
            "'postroom[gpu]' with CUDA 13 and cuDNN 9, or set POSTROOM_SERVE_PROVIDER=cpu"
        )
    if preference != "cpu" and cuda_ok:
        return [CUDA, CPU]
    return [CPU]


@dataclass(frozen=True)
class ClassScore:
    class_name: str
    probability: float


@dataclass(frozen=True)
class SetPrediction:
    """One label set's result for one text: the predicted class, its probability, the top classes."""

    label_set: str
    class_name: str
    probability: float
    top: tuple[ClassScore, ...]

    def to_record(self) -> dict[str, Any]:
        """The JSON stored in `predictions.results[label_set]`."""
        return {
            "class": self.class_name,
            "probability": self.probability,
            "top": [{"class": c.class_name, "probability": c.probability} for c in self.top],
        }


Prediction = dict[str, SetPrediction]


@dataclass(frozen=True)
class _Body:
    key: str
    session: Any
    tokenizer: Any
    inputs: frozenset[str]
    lowercase: bool
    outputs: tuple[str, ...]
    label_sets: tuple[str, ...]


def _session(ort: Any, model_file: Path, options: Any, providers: list[str]) -> Any:
    """An inference session; when the CUDA provider fails to start (libraries missing), the CPU one."""
    try:
        return ort.InferenceSession(str(model_file), options, providers=providers)
    except Exception as exc:
        if providers[0] != CUDA:
            raise
        log.warning("the CUDA provider failed to start (%s); running on the CPU", type(exc).__name__)
        return ort.InferenceSession(str(model_file), options, providers=[CPU])


def pick_variant(
    manifest: ExportManifest, requested: str, on_gpu: bool, allow_unpublished: bool = False
) -> str:
    """The variant to serve: the requested one if published, else the first published in preference order.

    `allow_unpublished` is for the benchmark only: it measures variants the gate refused (their files kept).
    """
    published = [name for name, v in manifest.variants.items() if v.published]
    if requested != "auto":
        entry = manifest.variants.get(requested)
        if entry is None:
            raise ModelUnavailable(
                f"version {manifest.version} has no {requested} variant (exported: "
                f"{', '.join(manifest.variants) or 'none'})"
            )
        if not entry.published and not (allow_unpublished and entry.files):
            raise ModelUnavailable(
                f"the {requested} variant of {manifest.version} was not published: {entry.reason}"
            )
        return requested
    order = manifest.preference.get("gpu" if on_gpu else "cpu", []) + sorted(published)
    for name in order:
        if name in published:
            return name
    raise ModelUnavailable(f"version {manifest.version} has no published variant (see its parity.json)")


class OnnxClassifier:
    """Every label set of one exported model version, ready to predict."""

    def __init__(
        self,
        path: Path,
        variant: str = "auto",
        provider: ProviderChoice = "auto",
        threads: int = 0,
        max_batch: int = 32,
        allow_unpublished: bool = False,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = path
        self.manifest = read_export(path)
        providers = choose_providers(provider)
        self.variant = pick_variant(self.manifest, variant, providers[0] == CUDA, allow_unpublished)
        self.max_batch = max_batch
        files = self.manifest.variants[self.variant].files
        bodies = []
        active: set[str] = set()
        for key, body in self.manifest.bodies.items():
            sets = tuple(n for n, s in self.manifest.label_sets.items() if s.body == key)
            if not sets:
                continue
            if key not in files:
                raise ModelUnavailable(
                    f"the {self.variant} variant of {self.manifest.version} lacks body {key}"
                )
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            model_file = verify_file(path, files[key], self.manifest)
            try:
                session = _session(ort, model_file, options, providers)
                tokenizer = Tokenizer.from_file(str(verify_file(path, body.tokenizer, self.manifest)))
            except Exception as exc:  # ORT and tokenizers raise their own types for corrupt files
                raise ModelUnavailable(
                    f"cannot load {files[key]} of {self.manifest.version}: {type(exc).__name__}"
                ) from None
            active.update(session.get_providers())
            bodies.append(
                _Body(
                    key=key,
                    session=session,
                    tokenizer=tokenizer,
                    inputs=frozenset(i.name for i in session.get_inputs()),
                    lowercase=body.lowercase,
                    outputs=tuple(self.manifest.label_sets[n].output for n in sets),
                    label_sets=sets,
                )
            )
        self._bodies = tuple(bodies)
        self.provider = CUDA if CUDA in active else CPU
        self.label_sets = tuple(self.manifest.label_sets)
        self.classes = {n: tuple(s.classes) for n, s in self.manifest.label_sets.items()}
        log.info(
            "loaded model %s variant %s on %s (asked %s; available here: %s)",
            self.version,
            self.variant,
            self.provider,
            provider,
            ", ".join(providers),
        )

    @property
    def version(self) -> str:
        return self.manifest.version

    def _prepare(self, text: str, lowercase: bool) -> str:
        text = text.strip()
        return text.lower() if lowercase else text

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Probabilities per label set, rows in input order, columns in `classes[label_set]` order."""
        n = len(texts)
        order = sorted(range(n), key=lambda i: len(texts[i]))
        result = {name: np.zeros((n, len(self.classes[name])), dtype=np.float32) for name in self.label_sets}
        for body in self._bodies:
            for start in range(0, n, self.max_batch):
                rows = order[start : start + self.max_batch]
                encodings = body.tokenizer.encode_batch(
                    [self._prepare(texts[i], body.lowercase) for i in rows]
                )
                feeds = {
                    "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                }
                if "token_type_ids" in body.inputs:
                    feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
                values = body.session.run(list(body.outputs), feeds)
                for name, value in zip(body.label_sets, values, strict=True):
                    result[name][rows] = value
        return result

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Per text, per label set: the predicted class, its probability and the top three."""
        if not texts:
            return []
        probabilities = self.predict_proba(texts)
        out: list[Prediction] = [{} for _ in texts]
        for name, matrix in probabilities.items():
            classes = self.classes[name]
            top = np.argsort(-matrix, axis=1, kind="stable")[:, :TOP_K]
            for row, indices in enumerate(top):
                scores = tuple(ClassScore(classes[i], round(float(matrix[row, i]), 6)) for i in indices)
                out[row][name] = SetPrediction(name, scores[0].class_name, scores[0].probability, scores)
        return out
