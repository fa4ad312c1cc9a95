"""Run exported graphs with ONNX Runtime and `tokenizers` the way serving does, for the parity gate.

`serving.runtime` is the production runtime; the export may not import it (training never imports serving),
so this is its minimal twin; both cut and pad their runs with `postroom.runs`. `tests/serving/test_runtime.py`
checks both give the same numbers on the same export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from postroom.runs import CPU_RUN_ROWS, CPU_RUN_TOKENS, Tokens, cut_runs, feeds, load_tokenizer, tokenize
from postroom.runtime import CPU_PROVIDER, disabled_optimizers


def served_runs(tokens: Tokens, batch_size: int, run_rows: int = CPU_RUN_ROWS) -> list[list[int]]:
    """Row indices of each session run, as `serving.runtime` cuts one call on the CPU
    (`postroom.runs.cut_runs`; one stream, which cuts as finely as two); `run_rows` 1: every row alone."""
    return cut_runs(tokens.lengths, batch_size, min(batch_size, run_rows), CPU_RUN_TOKENS)


def run_graph(
    model_path: Path,
    tokenizer_path: Path,
    texts: Sequence[str],
    outputs: list[str],
    lowercase: bool = False,
    batch_size: int = 32,
    threads: int = 0,
) -> dict[str, np.ndarray]:
    """The named outputs of one exported body graph for `texts`, in input order (CPU), run in the runs
    serving cuts a call of `texts` into (`served_runs`; `batch_size` 1: each text alone)."""
    import onnxruntime as ort

    tokenizer, padding = load_tokenizer(tokenizer_path)  # truncation comes from the file; runs pad
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers = [CPU_PROVIDER]
    session = ort.InferenceSession(
        str(model_path), options, providers=providers, disabled_optimizers=disabled_optimizers(providers)
    )
    inputs = {i.name for i in session.get_inputs()}
    tokens = tokenize(tokenizer, texts, lowercase)
    runs = served_runs(tokens, batch_size)
    if not runs:
        raise ValueError("no texts to run")
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    for rows in runs:
        values = session.run(outputs, feeds(tokens, rows, padding, inputs))
        for name, value in zip(outputs, values, strict=True):
            chunks[name].append(value)
    back = np.argsort(np.concatenate([np.asarray(rows, dtype=np.int64) for rows in runs]), kind="stable")
    return {name: np.concatenate(values)[back] for name, values in chunks.items()}


def near_ties(probabilities: Sequence[np.ndarray], margins: float | Sequence[float]) -> np.ndarray:
    """Rows where any label set's top two probabilities are closer than its margin (the int8 fall-back rule).

    `margins`: one for every label set, or one per matrix of `probabilities` (in that order); 0 never.

    `serving.runtime.near_ties` is its twin; int8 flips labels only where the model hesitates, so those
    rows are run again on the fp32 graph (docs/serving.md, "int8 with an fp32 second look").
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
