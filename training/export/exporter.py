"""Export a model bundle to ONNX: fp32, graph-optimised and int8 variants, each through the parity gate.

Per body: Optimum exports the whole sentence-transformers pipeline (transformer, pooling, normalisation; the
`sentence_transformers` library path of `optimum.exporters.onnx.main_export`, at `EXPORT_OPSET`), the
token-embeddings output is dropped, and then
- `fp32` is that graph;
- `optimized` is ONNX Runtime's O2 optimisation of it through Optimum's `ORTOptimizer`;
- `int8` is Optimum's dynamic quantisation of the fp32 graph (from the O2 graph: 5 % faster, measured, and
  no smoothing inside its fused attention):
  per-channel weights, MatMuls only, the activation-by-activation MatMuls kept in fp32 and, by the int8
  target (`int8_recipes`), the feed-forward output projections too (`graph.int8_exclusions`): on x86
  they are quantised first and kept in fp32 only if the gate refuses that int8 (measured in
  docs/serving-performance.md), on ARM they are kept (not measured there); and with an fp32 second look:
  rows whose top two probabilities in any label set are closer than that set's margin are served from the
  fp32 graph (int8 flips labels only where the model hesitates; measured in docs/serving-performance.md).
  The margins are calibrated per label set on texts the gate does not use (`training.export.margins`), at
  most `int8_fallback_margin`. The gate measures the variant as served, second look included; if it
  refuses the calibrated margins, int8 is gated again with `int8_fallback_margin` for the refused label
  sets, then for every label set (each step a superset of the rows looked at again; `margins.next_margins`).
  Before quantising, each quantised MatMul's input is smoothed per channel on the calibration texts
  (`training.export.smoothing`, exact in fp32), and the int8 target (`activation_bits`: 7 without VNNI)
  follows the exporting CPU unless named: the gate measures the kernels of the CPU it runs on. After
  quantising, the activations are quantised per token instead of per run (`training.export.tokenwise`), so
  a row scores the same in any run: the gate checks that (`parity.with_rows_checked`) and serving shares
  int8 runs.
The heads are appended to every variant. The tokenizer is saved with truncation at the body's
`max_seq_length` and padding to the longest text of a batch, set explicitly: the packaged MiniLM's
tokenizer.json says 128 tokens and fixed padding, the model reads 256.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from postroom.machine import cpu_features
from postroom.workdirs import REPLACED_PREFIX, STAGING_PREFIX
from training.export.bundle import BodySpec, ModelBundle, body_lowercases, read_body_modules
from training.export.errors import ExportError, NothingPublished
from training.export.graph import Int8Keep, append_heads, fused_ops, int8_exclusions, keep_outputs
from training.export.layout import (
    EMBEDDING_OUTPUT,
    EVIDENCE_DIR,
    EXPORT_FORMAT,
    EXPORT_MANIFEST,
    HEADS_JSON,
    HEADS_NPZ,
    PARITY_REPORT,
    PREFERENCE_CPU,
    PREFERENCE_GPU,
    REJECTED_SUFFIX,
    TOKENIZER_DIR,
    TOKENIZER_FILE,
    VARIANTS,
    probabilities_output,
)
from training.export.margins import (
    MIN_TEXTS,
    MarginChoice,
    calibrate_margins,
    fixed_margins,
    next_margins,
    too_few,
)
from training.export.parity import (
    Reference,
    VariantParity,
    compare,
    largest_difference,
    reference_outputs,
    refused_label_sets,
    with_rows_checked,
)
from training.export.predict import near_ties, run_graph
from training.export.smoothing import DEFAULT_ALPHA, Smoothed, smooth
from training.export.tokenwise import PerToken, per_token

Int8Target = Literal["auto", "avx512_vnni", "avx2", "arm64"]
INT8_TARGETS: tuple[str, ...] = get_args(Int8Target)
Int8KeepOption = Literal["auto", "ffn_output", "none"]
INT8_KEEPS: tuple[str, ...] = get_args(Int8KeepOption)
SMOOTHING_TEXTS = 500  # activation ranges settle well before; more only costs export time
# The bodies' ONNX opset. From 18 on, ReduceL2 (the Normalize module) takes its axes as an input, ONNX
# Runtime's symbolic shape inference then types nothing after it, and the O2 optimiser skips every
# SkipLayerNormalization fusion ("symbolic shape inference disabled or failed"): measured on MiniLM, all 13
# LayerNorms stayed apart at opset 18; at 17 the 12 residual ones are fused (docs/serving-performance.md).
EXPORT_OPSET = 17
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportOptions:
    """How to export. `min_agreement` is the parity gate (share of texts with the same predicted class)."""

    variants: tuple[str, ...] = VARIANTS
    min_agreement: float = 0.995
    # which weight MatMuls int8 keeps in fp32; auto: by the int8 target (`int8_recipes`)
    int8_keep_fp32: Int8KeepOption = "auto"
    int8_target: Int8Target = "auto"
    # SmoothQuant's alpha for int8's quantised MatMul inputs, on the calibration texts; 0: no smoothing
    int8_smooth: float = DEFAULT_ALPHA
    # int8 rows whose top two probabilities (any label set) are closer than this run again on fp32; 0: never.
    int8_fallback_margin: float = 0.2
    # per label set from calibration texts (training.export.margins), at most the margin above; else fixed
    calibrate_int8_margins: bool = True
    keep_unpublished: bool = False
    batch_size: int = 32
    opset: int = EXPORT_OPSET

    def __post_init__(self) -> None:
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise ValueError(f"`variants` must be a non-empty subset of {VARIANTS}, got {self.variants!r}")
        if not 0.0 < self.min_agreement <= 1.0:
            raise ValueError(f"`min_agreement` must be in (0, 1], got {self.min_agreement!r}")
        if self.int8_keep_fp32 not in INT8_KEEPS:
            raise ValueError(f"`int8_keep_fp32` must be one of {INT8_KEEPS}, got {self.int8_keep_fp32!r}")
        if self.int8_target not in INT8_TARGETS:
            raise ValueError(f"`int8_target` must be one of {INT8_TARGETS}, got {self.int8_target!r}")
        if not 0.0 <= self.int8_smooth <= 1.0:
            raise ValueError(f"`int8_smooth` must be in [0, 1] (0: off), got {self.int8_smooth!r}")
        if not 0.0 <= self.int8_fallback_margin < 1.0:
            raise ValueError(f"`int8_fallback_margin` must be in [0, 1), got {self.int8_fallback_margin!r}")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {self.batch_size!r}")


@dataclass
class ExportResult:
    path: Path
    manifest: dict[str, Any]
    parity: list[VariantParity] = field(default_factory=list)

    @property
    def published(self) -> list[str]:
        return [p.variant for p in self.parity if p.published]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _versions(*names: str) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _pad_token(export_dir: Path, tokenizer: Any) -> tuple[str, int]:
    """The pad token and id, from special_tokens_map.json or the tokenizer's own padding config."""
    candidates: list[str] = []
    special = export_dir / "special_tokens_map.json"
    if special.is_file():
        pad = json.loads(special.read_text("utf-8")).get("pad_token")
        candidates.append(pad.get("content") if isinstance(pad, dict) else pad)
    if tokenizer.padding:
        candidates.append(tokenizer.padding.get("pad_token"))
    candidates += ["[PAD]", "<pad>"]
    for token in candidates:
        if token and tokenizer.token_to_id(token) is not None:
            return token, int(tokenizer.token_to_id(token))
    raise ExportError(f"cannot find the pad token of the tokenizer in {export_dir}")


def configure_tokenizer(export_dir: Path, target: Path, max_length: int) -> None:
    """Save the tokenizer with truncation at `max_length` tokens and padding to the longest in a batch."""
    from tokenizers import Tokenizer

    source = export_dir / TOKENIZER_FILE
    if not source.is_file():
        raise ExportError(f"the export of {export_dir.name} has no {TOKENIZER_FILE} (a fast tokenizer)")
    tokenizer = Tokenizer.from_file(str(source))
    pad_token, pad_id = _pad_token(export_dir, tokenizer)
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first", direction="right")
    tokenizer.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token, length=None)
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(target))


def _export_body_fp32(spec: BodySpec, work: Path, opset: int) -> Path:
    """Optimum export of the whole sentence-transformers body; returns the directory of the fp32 graph."""
    import onnx
    from optimum.exporters.onnx import main_export

    raw = work / "export"
    main_export(
        str(spec.path),
        raw,
        task="feature-extraction",
        library_name="sentence_transformers",
        do_validation=False,
        opset=opset,
    )
    fp32 = work / "fp32"
    fp32.mkdir(parents=True, exist_ok=True)
    onnx.save(keep_outputs(onnx.load(str(raw / "model.onnx")), [EMBEDDING_OUTPUT]), str(fp32 / "model.onnx"))
    shutil.copy(raw / "config.json", fp32 / "config.json")
    return fp32


def _optimize(fp32: Path, target: Path) -> tuple[Path, dict[str, int]]:
    """ONNX Runtime's O2 optimisation through Optimum: the graph, and the fusions it made (`fused_ops`)."""
    import onnx
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig

    ORTOptimizer.from_pretrained(fp32).optimize(AutoOptimizationConfig.O2(), target, file_suffix=None)
    path = target / "model.onnx"
    return path, fused_ops(onnx.load(str(path), load_external_data=False))


def host_int8_target(machine: str | None = None, features: Sequence[str] | None = None) -> Int8Target:
    """The int8 target of this CPU: `avx512_vnni` where VNNI adds uint8 x int8 products without saturating,
    `avx2` on other x86 CPUs (7-bit activations, `activation_bits`), `arm64` on ARM."""
    import platform

    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = cpu_features() if features is None else features
    return "avx512_vnni" if {"avx512_vnni", "avx_vnni"} & set(flags) else "avx2"


def activation_bits(target: Int8Target) -> int:
    """The bits of int8's activation codes for `target`: 7 on `avx2`, else 8.

    Every target multiplies uint8 activations by int8 weights (U8S8). Without VNNI, ONNX Runtime's x86 kernel
    (`vpmaddubsw`) adds two products into 16 bits, which saturate with 8-bit codes; 7-bit codes keep every
    sum exact. Measured on Zen 3 without VNNI against the unsigned weights (U8U8) exported there before:
    1.18x the int8 throughput on short texts, 1.13-1.26x on long emails (docs/serving-performance.md)."""
    return 7 if target == "avx2" else 8


def int8_recipes(keep: Int8KeepOption, target: Int8Target) -> tuple[Int8Keep, ...]:
    """The `int8_keep_fp32` recipes to try in turn, the next one only if the gate refuses int8.

    `auto`: on x86 every feed-forward output is quantised first and kept in fp32 if the gate refuses that
    (with VNNI, Zen 4: 1.4x faster alone, 1.1-1.2x with its wider second look; without, Zen 3: 1.11x on long
    emails, even on short texts); on `arm64` they are kept (not measured there)."""
    if keep != "auto":
        return (keep,)
    return ("ffn_output",) if target == "arm64" else ("none", "ffn_output")


@dataclass(frozen=True)
class SmoothingInput:
    """What smoothing one body needs: its tokenizer, the calibration texts, and the body's lower-casing."""

    tokenizer: Path
    texts: Sequence[str]
    lowercase: bool


def _quantize(
    fp32: Path,
    target: Path,
    options: ExportOptions,
    cpu: Int8Target,
    keep: Int8Keep,
    smoothing: SmoothingInput | None,
) -> tuple[Path, list[str], Smoothed | None, PerToken]:
    import onnx
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    model = onnx.load(str(fp32 / "model.onnx"))
    excluded = int8_exclusions(model, keep)
    smoothed = None
    source = fp32
    if smoothing is not None:
        model, smoothed = smooth(
            model,
            smoothing.tokenizer,
            smoothing.texts,
            excluded,
            alpha=options.int8_smooth,
            lowercase=smoothing.lowercase,
            batch_size=options.batch_size,
        )
        source = target.with_name(f"{target.name}-smoothed")
        source.mkdir(parents=True)
        for extra in fp32.iterdir():  # the config and tokenizer files Optimum reads beside the graph
            if extra.is_file() and extra.suffix != ".onnx":
                shutil.copy2(extra, source / extra.name)
        onnx.save(model, str(source / "model.onnx"))
    # uint8 activations, int8 weights (U8S8) on every target; `avx2` differs in its activations' bits
    factory = AutoQuantizationConfig.arm64 if cpu == "arm64" else AutoQuantizationConfig.avx512_vnni
    config = factory(
        is_static=False, per_channel=True, operators_to_quantize=["MatMul"], nodes_to_exclude=excluded
    )
    ORTQuantizer.from_pretrained(source).quantize(config, target, file_suffix=None)
    graph, tokenwise = per_token(onnx.load(str(target / "model.onnx")), activation_bits(cpu))
    onnx.save(graph, str(target / "model.onnx"))
    return target / "model.onnx", excluded, smoothed, tokenwise


def _with_heads(graph: Path, bundle: ModelBundle, body: str, target: Path) -> None:
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(append_heads(onnx.load(str(graph)), bundle.heads_of(body)), str(target))


@dataclass(frozen=True)
class VariantRun:
    """One variant's outputs on the gate's texts, in the runs serving cuts a call into."""

    embeddings: dict[str, np.ndarray]  # per body, as served (after the second look)
    probabilities: dict[str, np.ndarray]  # per label set, as served
    shares: dict[str, float]  # per body, the share of rows the second look took
    first_look: dict[str, dict[str, np.ndarray]]  # per body, every output of the variant's own graph


def _run_variant(
    bundle: ModelBundle,
    staging: Path,
    variant: str,
    texts: Sequence[str],
    lowercase: dict[str, bool],
    batch_size: int,
    fallback: tuple[str, dict[str, float]] | None = None,
) -> VariantRun:
    """`variant`'s outputs as served. With `fallback=(variant, margins by label set)`, rows where the graph
    hesitates (`near_ties`) are taken from the fallback variant's graph instead, as `serving.runtime` serves
    them."""
    run = VariantRun({}, {}, {}, {})
    for key in bundle.bodies:
        heads = bundle.heads_of(key)
        outputs = [EMBEDDING_OUTPUT, *(probabilities_output(h.label_set) for h in heads)]

        def graph_run(name: str, subset: Sequence[str], key: str = key, outputs: list[str] = outputs) -> dict:
            # Each graph in the runs serving cuts a call into (the second look: a call of the hesitant rows).
            return run_graph(
                staging / name / f"{key}.onnx",
                staging / TOKENIZER_DIR / key / TOKENIZER_FILE,
                subset,
                outputs,
                lowercase=lowercase[key],
                batch_size=batch_size,
            )

        first = run.first_look[key] = graph_run(variant, texts)
        values = dict(first)
        if fallback is not None:
            mask = near_ties([first[o] for o in outputs[1:]], [fallback[1][h.label_set] for h in heads])
            run.shares[key] = float(mask.mean()) if len(mask) else 0.0
            if mask.any():
                again = graph_run(fallback[0], [t for t, m in zip(texts, mask, strict=True) if m])
                for name in outputs:
                    values[name] = first[name].copy()
                    values[name][mask] = again[name]
        run.embeddings[key] = values[EMBEDDING_OUTPUT]
        for head in heads:
            run.probabilities[head.label_set] = values[probabilities_output(head.label_set)]
    return run


def _rows_difference(
    bundle: ModelBundle,
    staging: Path,
    variant: str,
    texts: Sequence[str],
    lowercase: dict[str, bool],
    shared: dict[str, dict[str, np.ndarray]],
) -> float:
    """The largest difference of any output of `variant` (no second look) between `shared`, its outputs per
    body with `texts` run as serving cuts a call of them (`VariantRun.first_look`), and each text run
    alone."""
    differences = []
    for key in bundle.bodies:
        outputs = [EMBEDDING_OUTPUT, *(probabilities_output(h.label_set) for h in bundle.heads_of(key))]
        graph, tokenizer = staging / variant / f"{key}.onnx", staging / TOKENIZER_DIR / key / TOKENIZER_FILE
        alone = run_graph(graph, tokenizer, texts, outputs, lowercase=lowercase[key], batch_size=1)
        differences.append(largest_difference(shared[key], alone))
    return float("nan") if any(np.isnan(differences)) else max(differences, default=0.0)


def _int8_margins(
    bundle: ModelBundle,
    staging: Path,
    texts: Sequence[str],
    lowercase: dict[str, bool],
    options: ExportOptions,
    say: Progress,
) -> MarginChoice:
    """The second look's margin per label set: calibrated on `texts` (int8 as served against fp32), or
    fixed."""
    names, ceiling = list(bundle.heads), options.int8_fallback_margin
    if not options.calibrate_int8_margins:
        return fixed_margins(names, ceiling, "fixed margin asked for")
    texts = [t for t in texts if t.strip()]
    few = too_few(names, len(texts), ceiling)
    if few is not None:
        return few
    say(f"int8 second look: calibrating its margins on {len(texts)} texts")
    int8 = _run_variant(bundle, staging, "int8", texts, lowercase, options.batch_size).probabilities
    fp32 = _run_variant(bundle, staging, "fp32", texts, lowercase, options.batch_size).probabilities
    return calibrate_margins([int8], fp32, ceiling)


def _build_failure(exc: Exception) -> str:
    return f"build failed: {type(exc).__name__}: {str(exc)[:300]}"


def _not_built(variant: str, failure: str) -> VariantParity:
    return VariantParity(variant, {}, {}, published=False, reason=f"not published: {failure}")


def _smoothing_note(options: ExportOptions, texts: int) -> str | None:
    """Why int8 is quantised without smoothing, or None when it is smoothed."""
    if options.int8_smooth == 0:
        return "smoothing off (int8_smooth 0)"
    if texts < MIN_TEXTS:
        return f"only {texts} calibration texts (at least {MIN_TEXTS}): not smoothed"
    return None


def _second_look(variant: str, choice: MarginChoice) -> dict[str, Any]:
    """The manifest's second-look entry: `margin` is the largest (what a reader without `margins` uses)."""
    return {
        "variant": variant,
        "margin": max(choice.margins.values(), default=0.0),
        "margins": choice.margins,
    }


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _replace_dir(staging: Path, target: Path) -> None:
    """Move `staging` to `target`; an older export there is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = target.with_name(f"{REPLACED_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
    os.rename(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_bundle(
    bundle: ModelBundle,
    out_dir: Path,
    texts: Sequence[str],
    options: ExportOptions | None = None,
    progress: Progress | None = None,
    calibration_texts: Sequence[str] = (),
) -> ExportResult:
    """Export `bundle` into `out_dir` (replaced atomically), gate every variant on `texts`.

    `calibration_texts` (not the gate's: the training messages and other stored ones not held out) set
    int8's second-look margins; with fewer than `margins.MIN_TEXTS` the fixed margin is used.

    Raises:
        ExportError: a body cannot be exported, or there are no texts for the gate.
        NothingPublished: no variant passed the gate (the report is still written, for inspection).
    """
    import onnx

    from postroom.offline import force_offline

    force_offline()
    options = options or ExportOptions()
    say = progress or (lambda _message: None)
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ExportError("no texts for the parity gate: the held-out set is empty (pass texts explicitly)")
    lowercase = {}
    for key, spec in bundle.bodies.items():
        read_body_modules(spec.path)
        lowercase[key] = body_lowercases(spec.path)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f"{STAGING_PREFIX}{out_dir.name}-{uuid.uuid4().hex[:8]}"
    work = staging / ".work"
    started = time.perf_counter()
    try:
        built: dict[str, dict[str, str]] = {v: {} for v in options.variants}
        failures: dict[str, str] = {}
        excluded: dict[str, list[str]] = {}
        bodies_meta: dict[str, Any] = {}
        cpu = host_int8_target() if options.int8_target == "auto" else options.int8_target
        recipes = int8_recipes(options.int8_keep_fp32, cpu)
        keep = recipes[0]
        attempts: list[dict[str, str]] = []  # int8 recipes the gate refused before the one exported
        fp32_dirs: dict[str, Path] = {}
        smoothing_texts = [t for t in calibration_texts if t.strip()][:SMOOTHING_TEXTS]
        smoothing_note = _smoothing_note(options, len(smoothing_texts))
        smoothed: dict[str, dict[str, Any]] = {}
        per_token_counts: dict[str, dict[str, int]] = {}
        rows_checked: dict[str, float] = {}  # int8 recipe -> its rows' largest difference alone vs. in runs
        fusions: dict[str, dict[str, int]] = {}

        def build_int8(key: str, keep: Int8Keep) -> None:
            plan = None
            if smoothing_note is None:
                tokenizer = staging / TOKENIZER_DIR / key / TOKENIZER_FILE
                plan = SmoothingInput(tokenizer, smoothing_texts, lowercase[key])
            target = work / key / f"int8-{keep}"
            graph_path, excluded[key], done, tokenwise = _quantize(
                fp32_dirs[key], target, options, cpu, keep, plan
            )
            per_token_counts[key] = asdict(tokenwise)
            if done is not None:
                smoothed[key] = {"activations": done.activations, "matmuls": done.matmuls}
            _with_heads(graph_path, bundle, key, staging / "int8" / f"{key}.onnx")

        for key, spec in bundle.bodies.items():
            say(f"exporting body {key} with Optimum")
            fp32 = fp32_dirs[key] = _export_body_fp32(spec, work / key, options.opset)
            configure_tokenizer(
                work / key / "export", staging / TOKENIZER_DIR / key / TOKENIZER_FILE, spec.max_seq_length
            )
            graph = onnx.load(str(fp32 / "model.onnx"), load_external_data=False)
            bodies_meta[key] = {
                "tokenizer": f"{TOKENIZER_DIR}/{key}/{TOKENIZER_FILE}",
                "max_seq_length": spec.max_seq_length,
                "lowercase": lowercase[key],
                "inputs": [i.name for i in graph.graph.input],
                "embedding_output": EMBEDDING_OUTPUT,
                "embedding_dim": int(bundle.heads_of(key)[0].coef.shape[1]) if bundle.heads_of(key) else None,
                "source": str(spec.path),
            }
            for variant in options.variants:
                if variant in failures:
                    continue
                say(f"building {variant} for body {key}")
                try:
                    if variant == "int8":
                        build_int8(key, keep)
                    else:
                        graph_path = fp32 / "model.onnx"
                        if variant == "optimized":
                            graph_path, fusions[key] = _optimize(fp32, work / key / "optimized")
                        _with_heads(graph_path, bundle, key, staging / variant / f"{key}.onnx")
                    built[variant][key] = f"{variant}/{key}.onnx"
                except Exception as exc:  # one failed variant must not cost the others
                    failures[variant] = _build_failure(exc)

        # int8 with an fp32 second look: rows where int8 hesitates are served from the fp32 graph.
        fallbacks: dict[str, tuple[str, MarginChoice]] = {}
        fp32_ready = "fp32" not in failures and len(built.get("fp32", {})) == len(bundle.bodies)
        int8_ready = "int8" not in failures and len(built.get("int8", {})) == len(bundle.bodies)
        if options.int8_fallback_margin > 0 and fp32_ready and int8_ready:
            choice = _int8_margins(bundle, staging, calibration_texts, lowercase, options, say)
            fallbacks["int8"] = ("fp32", choice)
        say(f"parity gate: PyTorch reference on {len(texts)} texts")
        reference: Reference = reference_outputs(bundle, texts, options.batch_size)
        parity: list[VariantParity] = []

        def gate(variant: str) -> VariantParity:
            fallback = fallbacks.get(variant)
            looks = None if fallback is None else (fallback[0], fallback[1].margins)
            run = _run_variant(bundle, staging, variant, texts, lowercase, options.batch_size, looks)
            result = compare(variant, reference, run.embeddings, run.probabilities, options.min_agreement)
            if variant == "int8":  # quantised per token: its rows must not depend on their runs' others
                if keep not in rows_checked:
                    rows_checked[keep] = _rows_difference(
                        bundle, staging, variant, texts, lowercase, run.first_look
                    )
                result = with_rows_checked(result, rows_checked[keep])
            if fallback is not None:
                result.fallback = {**_second_look(*fallback), "share": run.shares, **fallback[1].to_dict()}
            return result

        def gated(variant: str) -> VariantParity:
            say(f"parity gate: {variant}")
            t0 = time.perf_counter()
            result = gate(variant)
            looked = fallbacks.get(variant)
            while looked is not None and not result.published and result.shares_runs:
                # Refused: look again at more rows, the refused label sets' then every set's (fixed margin);
                # rows that depend on their run are not something a second look mends.
                refused = refused_label_sets(result, options.min_agreement)
                following = next_margins(looked[1], refused, options.int8_fallback_margin, result.reason)
                if following is None:
                    break
                shown = ", ".join(following.raised) if following.raised else "every label set"
                say(f"parity gate: {variant} with the fixed margin for {shown}")
                looked = fallbacks[variant] = (looked[0], following)
                result = gate(variant)
            result.seconds = time.perf_counter() - t0
            return result

        for variant in options.variants:
            parity.append(_not_built(variant, failures[variant]) if variant in failures else gated(variant))
        for retry in recipes[1:]:  # int8 refused: the next recipe keeps more of it in fp32
            at = next((i for i, p in enumerate(parity) if p.variant == "int8"), None)
            if at is None or parity[at].published or "int8" in failures:
                break
            attempts.append({"int8_keep_fp32": keep, "reason": parity[at].reason})
            keep = retry
            say(f"int8 refused: rebuilding it with int8_keep_fp32={keep}")
            try:
                for key in bundle.bodies:
                    build_int8(key, keep)
            except Exception as exc:
                failures["int8"] = _build_failure(exc)
                parity[at] = _not_built("int8", failures["int8"])
                break
            if "int8" in fallbacks:
                fallbacks["int8"] = (
                    "fp32",
                    _int8_margins(bundle, staging, calibration_texts, lowercase, options, say),
                )
            parity[at] = gated("int8")
        shutil.rmtree(work, ignore_errors=True)
        note = ""
        if len(texts) * (1 - options.min_agreement) < 1:
            note = (
                f"only {len(texts)} texts: a single disagreement fails the "
                f"{100 * options.min_agreement:.1f}% gate"
            )

        needed = {fallbacks[p.variant][0] for p in parity if p.published and p.variant in fallbacks}
        for result in parity:
            if not result.published and not options.keep_unpublished and result.variant not in needed:
                shutil.rmtree(staging / result.variant, ignore_errors=True)

        heads_json = {
            name: {
                "body": h.body,
                "classes": list(h.classes),
                "binary": h.binary,
                "output": probabilities_output(name),
                "embedding_dim": int(h.coef.shape[1]),
            }
            for name, h in bundle.heads.items()
        }
        _write_json(staging / HEADS_JSON, heads_json)
        for name, source in bundle.evidence.items():
            (staging / EVIDENCE_DIR).mkdir(exist_ok=True)
            shutil.copyfile(source, staging / EVIDENCE_DIR / f"{name}.npz")
        np.savez(
            staging / HEADS_NPZ,
            **{f"{n}__coef": h.coef for n, h in bundle.heads.items()},
            **{f"{n}__intercept": h.intercept for n, h in bundle.heads.items()},
        )
        parity_report = {
            "version": bundle.version,
            "texts": len(texts),
            "min_agreement": options.min_agreement,
            "reference": {"backend": "torch", "seconds": round(reference.seconds, 2)},
            "note": note,
            "variants": [p.to_dict() for p in parity],
        }
        _write_json(staging / PARITY_REPORT, parity_report)
        manifest: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "version": bundle.version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": bundle.source,
            "libraries": _versions(
                "optimum",
                "optimum-onnx",
                "onnx",
                "onnxruntime",
                "onnxruntime-gpu",
                "torch",
                "sentence-transformers",
                "transformers",
                "tokenizers",
            ),
            "options": {
                "min_agreement": options.min_agreement,
                "opset": options.opset,
                **({"optimized_fusions": fusions} if fusions else {}),
                "int8_keep_fp32": keep,
                **(
                    {"int8_keep_fp32_asked": options.int8_keep_fp32} if options.int8_keep_fp32 != keep else {}
                ),
                **({"int8_keep_refused": attempts} if attempts else {}),
                "int8_target": cpu,
                **({"int8_target_asked": options.int8_target} if options.int8_target != cpu else {}),
                "int8_smoothing": {
                    "alpha": options.int8_smooth,
                    "texts": 0 if smoothing_note else len(smoothing_texts),
                    "bodies": smoothed,
                    **({"note": smoothing_note} if smoothing_note else {}),
                },
                "int8_fp32_nodes": excluded,
                "int8_activations": {
                    "quantised": "per_token",
                    "bits": activation_bits(cpu),
                    "bodies": per_token_counts,
                },
                "int8_fallback_margin": options.int8_fallback_margin,
                "calibrate_int8_margins": options.calibrate_int8_margins,
                **({"int8_margins": fallbacks["int8"][1].to_dict()} if "int8" in fallbacks else {}),
            },
            "parity_texts": len(texts),
            "bodies": bodies_meta,
            "label_sets": {
                name: {
                    "body": h.body,
                    "classes": list(h.classes),
                    "output": probabilities_output(name),
                    **({"evidence": f"{EVIDENCE_DIR}/{name}.npz"} if name in bundle.evidence else {}),
                }
                for name, h in bundle.heads.items()
            },
            "variants": {
                p.variant: {
                    "published": p.published,
                    "reason": p.reason,
                    # int8 too: quantised per token, checked by the gate (null: the variant was not built)
                    "shares_runs": p.shares_runs if p.variant not in failures else None,
                    **({"files": built[p.variant]} if p.published or options.keep_unpublished else {}),
                    **(
                        {
                            "fallback": {
                                **_second_look(*fallbacks[p.variant]),
                                "files": built[fallbacks[p.variant][0]],
                            }
                        }
                        if p.variant in fallbacks and (p.published or options.keep_unpublished)
                        else {}
                    ),
                }
                for p in parity
            },
            "preference": {"cpu": list(PREFERENCE_CPU), "gpu": list(PREFERENCE_GPU)},
            "seconds": round(time.perf_counter() - started, 1),
        }
        manifest["files"] = {
            path.relative_to(staging).as_posix(): _sha256(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        _write_json(staging / EXPORT_MANIFEST, manifest)
        published = any(p.published for p in parity)
        # A rejected export never replaces a good one: its report goes beside it, for inspection.
        target = out_dir if published else out_dir.with_name(f"{out_dir.name}{REJECTED_SUFFIX}")
        _replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not published:
        raise NothingPublished(
            f"no variant of {bundle.version} passed the parity gate (an earlier export, if any, is kept); "
            f"see {target / PARITY_REPORT}: " + " | ".join(f"{p.variant}: {p.reason}" for p in parity)
        )
    return ExportResult(out_dir, manifest, parity)
