"""The model runtime: ONNX Runtime sessions, the `tokenizers` tokenizer, heads inside the graph. No torch.

One `OnnxClassifier` holds one session per body of an export. It is immutable once built, so any number of
request threads may use it; a model swap builds a new one (see `serving.lifecycle`).

Texts are prepared as sentence-transformers does (stripped, lower-cased when the body says so), tokenised
once per body, sorted by token count and run in batches of at most `max_batch`, each cut into runs that
pad only to their own longest text (`postroom.runs`); results come back in input order.

On the CPU the work runs in `streams` single-threaded runs at once (one per core by default) rather than one
run over every core: a body's batch splits into one part per stream, and the bodies of one message run side
by side. Small transformer matrices use two threads poorly; two independent runs use two cores fully
(measured in docs/serving-performance.md). A CPU run takes at most 8 rows and 256 padded tokens; a row's
scores do not depend on the other messages of a call (int8 quantises each token on its own; an int8 row of an
export made before that runs alone). int8's fp32 second look gathers the hesitant rows of the whole call and
runs them again, in fp32's runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from postroom.machine import usable_cores
from postroom.runs import (
    CPU_RUN_TOKENS,
    Padding,
    Tokens,
    cpu_run_rows,
    cut_runs,
    feeds,
    load_tokenizer,
    shares_runs,
    tokenize,
)
from postroom.runtime import CPU_PROVIDER, check_onnxruntime, disabled_optimizers
from postroom.settings import ProviderChoice
from serving.artifacts import ExportManifest, FallbackEntry, read_export, verify_file
from serving.errors import ModelUnavailable
from serving.evidence import SetEvidence, load_evidence

log = logging.getLogger("postroom.serving")
CUDA, CPU = "CUDAExecutionProvider", CPU_PROVIDER
TOP_K = 3


_preloaded: list[bool] = []  # onnxruntime.preload_dlls ran in this process
_blas_limited: list[bool] = []  # limit_blas_threads ran in this process


def limit_blas_threads() -> None:
    """One thread for numpy's BLAS (OpenBLAS) in this process, once: a process that serves a model computes
    only small products with numpy (the learned confidence's signals), and OpenBLAS's threads, one per core,
    spin beside ONNX Runtime's streams. Measured on 2 cores with other jobs running: the signals of a call of
    32 messages took 16-18 ms with its threads and 0.5-0.6 ms with one (docs/serving.md)."""
    if _blas_limited:
        return
    _blas_limited.append(True)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def preload_cuda_libraries(ort: Any) -> None:
    """Let onnxruntime-gpu load CUDA and cuDNN from where pip put them (PyTorch's, or the nvidia-*-cu13
    wheels) before the first CUDA session, as its docs ask; once per process. A failure is logged: the
    provider then looks on the library path, and a session that cannot start runs on the CPU (`_session`)."""
    if _preloaded or not hasattr(ort, "preload_dlls"):
        return
    _preloaded.append(True)
    try:
        ort.preload_dlls()
    except Exception as exc:  # its errors are OSError, RuntimeError, ...: none may stop the service
        log.warning("onnxruntime.preload_dlls failed (%s): CUDA libraries come from the library path", exc)


def choose_providers(preference: ProviderChoice = "auto") -> list[str]:
    """Execution providers in priority order: CUDA when asked for or available, the CPU always last.

    Raises:
        RuntimeSetupError: no ONNX Runtime, both builds installed, or `cuda` asked for but not available.
    """
    import onnxruntime as ort

    flavour = check_onnxruntime()
    available = ort.get_available_providers()
    cuda_ok = flavour == "gpu" and CUDA in available
    if cuda_ok and preference != "cpu":
        preload_cuda_libraries(ort)
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
    signals: tuple[float, ...] | None = None  # router.confidence's raw signals, where the export has evidence

    def to_record(self) -> dict[str, Any]:
        """The JSON stored in `predictions.results[label_set]`."""
        record: dict[str, Any] = {
            "class": self.class_name,
            "probability": self.probability,
            "top": [{"class": c.class_name, "probability": c.probability} for c in self.top],
        }
        if self.signals is not None:
            record["signals"] = list(self.signals)
        return record


Prediction = dict[str, SetPrediction]


@dataclass(frozen=True)
class _Body:
    key: str
    session: Any
    tokenizer: Any  # unpadded: each run pads its own rows (`postroom.runs`)
    padding: Padding
    tokenizer_digest: str  # the tokenizer file's SHA-256, from the manifest
    inputs: frozenset[str]
    lowercase: bool
    outputs: tuple[str, ...]
    label_sets: tuple[str, ...]
    fallback: Any = None  # the fp32 session of int8's second look
    fallback_margins: tuple[float, ...] = ()  # one per label set, in `label_sets` order
    embedding_output: str | None = None  # fetched too when a label set of this body has evidence

    @property
    def tokens_key(self) -> tuple[str, bool]:
        """Bodies with the same tokenizer file and casing share a call's tokens."""
        return self.tokenizer_digest, self.lowercase

    @property
    def fetched(self) -> list[str]:
        return [*self.outputs, *([self.embedding_output] if self.embedding_output else [])]


@dataclass(frozen=True)
class _Unit:
    """One session run: some rows of one call on one body's session (int8, or its fp32 second look)."""

    body: _Body
    session: Any
    rows: list[int]


def near_ties(probabilities: Sequence[np.ndarray], margins: float | Sequence[float]) -> np.ndarray:
    """Rows where any label set's top two probabilities are closer than its margin (one, or one per set).

    Twin of `training.export.predict.near_ties` (the parity gate measured int8 with this rule).
    """
    rows = len(probabilities[0]) if probabilities else 0
    mask = np.zeros(rows, dtype=bool)
    each = [margins] * len(probabilities) if isinstance(margins, float | int) else list(margins)
    if len(each) != len(probabilities):
        raise ValueError(f"{len(each)} margins for {len(probabilities)} label sets")
    for matrix, margin in zip(probabilities, each, strict=True):
        if margin <= 0 or matrix.shape[1] < 2:
            continue
        top = np.partition(matrix, -2, axis=1)[:, -2:]
        mask |= (top[:, 1] - top[:, 0]) < margin
    return mask


def _margins_text(second: FallbackEntry) -> str:
    """`margin < 0.2`, or per label set `margins < queue 0.13, topic 0.11` where they differ."""
    if len(set(second.margins.values())) < 2:
        return f"margin < {second.margin}"
    return "margins < " + ", ".join(f"{name} {margin}" for name, margin in second.margins.items())


def plan_streams(streams: int, threads: int, on_gpu: bool, cores: int | None = None) -> tuple[int, int]:
    """(session runs at once, intra-op threads of each): 0 means automatic.

    Automatic streams: one per core on the CPU, one on CUDA (the GPU does the work; its CPU threads only
    feed it). Automatic threads: the cores shared out among the streams, at least one.
    """
    cores = cores or usable_cores()
    if streams <= 0:
        streams = 1 if on_gpu else cores
    if threads <= 0:
        threads = max(1, cores // streams)
    return streams, threads


def _session(ort: Any, model_file: Path, options: Any, providers: list[str]) -> Any:
    """An inference session; when the CUDA provider fails to start (libraries missing), the CPU one."""
    try:
        return ort.InferenceSession(
            str(model_file), options, providers=providers, disabled_optimizers=disabled_optimizers(providers)
        )
    except Exception as exc:
        if providers[0] != CUDA:
            raise
        log.warning("the CUDA provider failed to start (%s); running on the CPU", type(exc).__name__)
        return ort.InferenceSession(
            str(model_file), options, providers=[CPU], disabled_optimizers=disabled_optimizers([CPU])
        )


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
        second_look: bool = True,
        signals: bool = True,
        streams: int = 0,
        cores: int | None = None,
        run_rows: int | None = None,
    ) -> None:
        """`streams`: session runs at once (0: one per core on the CPU, one on CUDA); `threads`: intra-op
        threads of each (0: the cores shared out among the streams); `cores`: how many this classifier may
        use (default: every usable one). `second_look=False` runs a variant
        without its fp32 second look (the benchmark's raw int8); `signals=False` ignores the export's
        evidence (the benchmark measures what the signals cost); `run_rows` overrides the most rows of a CPU
        run (the benchmark measures int8 with its rows in shared runs, which the service does not do)."""
        limit_blas_threads()
        self.path = path
        self.manifest = read_export(path)
        self.max_batch = max_batch
        self._count_lock = threading.Lock()
        self.rows_seen = 0  # rows run by a body with a second look, and how many took it
        self.rows_fallen_back = 0
        providers = choose_providers(provider)

        def load(on: list[str]) -> set[str]:
            return self._load(
                on, variant, second_look, signals, streams, threads, cores, allow_unpublished, run_rows
            )

        active = load(providers)
        if providers[0] == CUDA and CUDA not in active:
            # CUDA could not start (`_session` fell back): the variant and the runs were chosen for a GPU.
            log.warning("the CUDA provider did not start: choosing the variant and runs for the CPU instead")
            load([CPU])
        second = self.manifest.variants[self.variant].fallback if second_look else None
        self.label_sets = tuple(self.manifest.label_sets)
        self.classes = {n: tuple(s.classes) for n, s in self.manifest.label_sets.items()}
        alone = self.provider == CPU and not self._shares_runs(self.variant)
        log.info(
            "loaded model %s variant %s on %s (asked %s; available here: %s; %d stream(s) x %d thread(s); "
            "runs of up to %d row(s)%s)%s",
            self.version,
            self.variant,
            self.provider,
            provider,
            ", ".join(providers),
            self.streams,
            self.threads,
            self.run_rows,
            ": this export's int8 quantises per run, so each row runs alone; exporting the version again "
            "quantises per token and shares runs"
            if alone
            else "",
            f"; near ties ({_margins_text(second)}) run again on {second.variant}" if second else "",
        )

    def _load(
        self,
        providers: list[str],
        variant: str,
        second_look: bool,
        signals: bool,
        streams: int,
        threads: int,
        cores: int | None,
        allow_unpublished: bool,
        run_rows: int | None = None,
    ) -> set[str]:
        """Choose the variant and the runs for `providers`, open every body's sessions; the providers the
        sessions run on."""
        import onnxruntime as ort

        on_gpu = providers[0] == CUDA
        self.variant = pick_variant(self.manifest, variant, on_gpu, allow_unpublished)
        entry = self.manifest.variants[self.variant]
        rows = cpu_run_rows(self._shares_runs(self.variant)) if run_rows is None else run_rows
        self.run_rows = self.max_batch if on_gpu else min(self.max_batch, rows)
        self.run_tokens = None if on_gpu else CPU_RUN_TOKENS
        self.streams, self.threads = plan_streams(streams, threads, on_gpu=on_gpu, cores=cores)
        files = entry.files
        second = entry.fallback if second_look else None
        # The second look's runs are cut for its own variant (fp32: several short rows per run).
        self.second_run_rows = (
            self.max_batch
            if on_gpu or second is None
            else min(self.max_batch, cpu_run_rows(self._shares_runs(second.variant)))
        )
        bodies = []
        active: set[str] = set()
        self.evidence: dict[str, SetEvidence] = {}
        for key, body in self.manifest.bodies.items():
            sets = tuple(n for n, s in self.manifest.label_sets.items() if s.body == key)
            if not sets:
                continue
            if key not in files:
                raise ModelUnavailable(
                    f"the {self.variant} variant of {self.manifest.version} lacks body {key}"
                )
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            # Sessions of several bodies (and int8's second look) take turns on the same cores: spinning
            # idle threads of one starve the next on a small CPU (measured: single-message p50 37 -> 15 ms,
            # 3 bodies).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            model_file = verify_file(self.path, files[key], self.manifest)
            fallback_file = None
            if second is not None and key in second.files:
                fallback_file = verify_file(self.path, second.files[key], self.manifest)
            tokenizer_file = verify_file(self.path, body.tokenizer, self.manifest)
            try:
                session = _session(ort, model_file, options, providers)
                fallback = None if fallback_file is None else _session(ort, fallback_file, options, providers)
            except Exception as exc:  # ORT raises its own types for corrupt files
                raise ModelUnavailable(
                    f"cannot load {files[key]} of {self.manifest.version}: {type(exc).__name__}"
                ) from None
            try:
                tokenizer, padding = load_tokenizer(tokenizer_file)
            except Exception as exc:  # tokenizers raises its own type for a file it cannot parse
                raise ModelUnavailable(
                    f"cannot load {body.tokenizer} of {self.manifest.version}: {type(exc).__name__}: "
                    f"{str(exc)[:200]}"
                ) from None
            active.update(session.get_providers())
            with_evidence = [n for n in sets if signals and self.manifest.label_sets[n].evidence]
            for name in with_evidence:
                entry = self.manifest.label_sets[name]
                evidence_file = verify_file(self.path, entry.evidence or "", self.manifest)
                self.evidence[name] = load_evidence(evidence_file, len(entry.classes))
            bodies.append(
                _Body(
                    key=key,
                    session=session,
                    tokenizer=tokenizer,
                    padding=padding,
                    tokenizer_digest=self.manifest.files[body.tokenizer],
                    inputs=frozenset(i.name for i in session.get_inputs()),
                    lowercase=body.lowercase,
                    outputs=tuple(self.manifest.label_sets[n].output for n in sets),
                    label_sets=sets,
                    fallback=fallback,
                    fallback_margins=tuple(second.margin_of(n) for n in sets) if fallback and second else (),
                    embedding_output=body.embedding_output if with_evidence else None,
                )
            )
        self._bodies = tuple(bodies)
        # Idle workers cost nothing and end with the classifier (the executor's weak reference).
        self._pool = (
            ThreadPoolExecutor(self.streams, thread_name_prefix=f"onnx-{self.manifest.version}")
            if self.streams > 1
            else None
        )
        self.provider = CUDA if CUDA in active else CPU
        return active

    def _shares_runs(self, variant: str) -> bool:
        """Whether `variant`'s rows may share CPU session runs (`postroom.runs.shares_runs`)."""
        entry = self.manifest.variants.get(variant)
        return shares_runs(variant, entry.shares_runs if entry is not None else None)

    @property
    def version(self) -> str:
        return self.manifest.version

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Probabilities per label set, rows in input order, columns in `classes[label_set]` order."""
        return self._run(texts)[0]

    def _run(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Probabilities per label set and, for label sets with evidence, their body's embeddings."""
        n = len(texts)
        result = {name: np.zeros((n, len(self.classes[name])), dtype=np.float32) for name in self.label_sets}
        embeddings: dict[str, np.ndarray] = {}
        shared: dict[tuple[str, bool], Tokens] = {}
        for body in self._bodies:
            if body.tokens_key not in shared:
                shared[body.tokens_key] = tokenize(body.tokenizer, texts, body.lowercase)
        tokens = {body.key: shared[body.tokens_key] for body in self._bodies}
        first = [
            _Unit(body, body.session, rows)
            for body in self._bodies
            for rows in self._cut(tokens[body.key], range(n), self.run_rows)
        ]
        hesitant: dict[str, list[int]] = {}
        for unit, values in zip(first, self._execute(first, tokens), strict=True):
            self._keep(unit, values, result, embeddings, n)
            if unit.body.fallback is not None:
                mask = near_ties(values[: len(unit.body.outputs)], unit.body.fallback_margins)
                hesitant.setdefault(unit.body.key, []).extend(
                    r for r, m in zip(unit.rows, mask, strict=True) if m
                )
        if hesitant:
            with self._count_lock:
                self.rows_seen += n * len(hesitant)
                self.rows_fallen_back += sum(len(rows) for rows in hesitant.values())
        # The second look: each body's hesitant rows of the whole call, in runs of their own.
        second = [
            _Unit(body, body.fallback, rows)
            for body in self._bodies
            if hesitant.get(body.key)
            for rows in self._cut(tokens[body.key], sorted(hesitant[body.key]), self.second_run_rows)
        ]
        for unit, values in zip(second, self._execute(second, tokens), strict=True):
            self._keep(unit, values, result, embeddings, n)
        by_set = {
            name: embeddings[self.manifest.label_sets[name].body]
            for name in self.evidence
            if self.manifest.label_sets[name].body in embeddings  # none for no texts
        }
        return result, by_set

    def _cut(self, tokens: Tokens, rows: Sequence[int], run_rows: int) -> list[list[int]]:
        """`rows` of the call cut into session runs (`postroom.runs.cut_runs`)."""
        return cut_runs(tokens.lengths, self.max_batch, run_rows, self.run_tokens, self.streams, rows)

    def _execute(self, units: list[_Unit], tokens: dict[str, Tokens]) -> list[list[Any]]:
        """Every unit's session outputs, in order; `streams` of them at a time."""
        if self._pool is None or len(units) < 2:
            return [self._run_unit(unit, tokens[unit.body.key]) for unit in units]
        return list(self._pool.map(lambda unit: self._run_unit(unit, tokens[unit.body.key]), units))

    @staticmethod
    def _run_unit(unit: _Unit, tokens: Tokens) -> list[Any]:
        body = unit.body
        return unit.session.run(body.fetched, feeds(tokens, unit.rows, body.padding, body.inputs))

    @staticmethod
    def _keep(
        unit: _Unit,
        values: list[Any],
        result: dict[str, np.ndarray],
        embeddings: dict[str, np.ndarray],
        n: int,
    ) -> None:
        """Write one unit's outputs into the call's rows (a second look overwrites the first)."""
        body = unit.body
        for name, value in zip(body.label_sets, values[: len(body.outputs)], strict=True):
            result[name][unit.rows] = value
        if body.embedding_output:
            vectors = values[-1]
            if body.key not in embeddings:
                embeddings[body.key] = np.zeros((n, vectors.shape[1]), dtype=np.float32)
            embeddings[body.key][unit.rows] = vectors

    def reset_second_look_counts(self) -> None:
        """Start counting second looks afresh (the benchmark measures each text set on its own)."""
        with self._count_lock:
            self.rows_seen = self.rows_fallen_back = 0

    @property
    def fallback_share(self) -> float | None:
        """Share of rows int8 handed to its fp32 second look so far (None: no second look here)."""
        if not any(b.fallback is not None for b in self._bodies):
            return None
        return self.rows_fallen_back / self.rows_seen if self.rows_seen else 0.0

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Per text, per label set: the predicted class, its probability, the top three and, where the
        export has evidence, the learned confidence's raw signals."""
        if not texts:
            return []
        probabilities, embeddings = self._run(texts)
        out: list[Prediction] = [{} for _ in texts]
        for name, matrix in probabilities.items():
            classes = self.classes[name]
            signals = self.evidence[name].signals(matrix, embeddings[name]) if name in self.evidence else None
            top = np.argsort(-matrix, axis=1, kind="stable")[:, :TOP_K]
            for row, indices in enumerate(top):
                scores = tuple(ClassScore(classes[i], round(float(matrix[row, i]), 6)) for i in indices)
                raw = None if signals is None else tuple(round(float(v), 6) for v in signals[row])
                out[row][name] = SetPrediction(name, scores[0].class_name, scores[0].probability, scores, raw)
        return out
