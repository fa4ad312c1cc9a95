"""Run exported graphs with ONNX Runtime and `tokenizers` the way serving does, for the parity gate.

`serving.runtime` is the production runtime; the export may not import it (training never imports serving),
so this is its minimal twin. `tests/serving/test_export_contract.py` checks both give the same numbers on
the same export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from postroom.runtime import CPU_PROVIDER, disabled_optimizers

# A CPU session run takes at most this many rows of a length-sorted batch (`serving.runtime.CPU_RUN_ROWS`,
# its twin): dynamic int8 quantises each run's activations with that run's own range, so the gate runs
# its graphs in the parts serving runs them in.
SERVED_RUN_ROWS = 8
# ... except int8's, whose rows each run alone (`serving.runtime.cpu_run_rows`, its twin), its fp32 second
# look included: dynamic int8 quantises a run's activations with one range over all its rows.
RUN_DEPENDENT = frozenset({"int8"})


def served_run_rows(variant: str) -> int:
    """The most rows serving runs at once on the CPU when it serves `variant`."""
    return 1 if variant in RUN_DEPENDENT else SERVED_RUN_ROWS


def served_parts(texts: Sequence[str], batch_size: int, run_rows: int = SERVED_RUN_ROWS) -> list[list[int]]:
    """Row indices of each session run, as `serving.runtime` cuts one call of `texts` on the CPU (one stream).

    Rows sorted by text length, batches of at most `batch_size`, each cut into even parts of at most
    `run_rows` rows.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        size = -(-len(rows) // -(-len(rows) // run_rows))
        parts.extend(rows[i : i + size] for i in range(0, len(rows), size))
    return parts


def prepare(text: str, lowercase: bool) -> str:
    """What sentence-transformers does to a text before tokenising: strip, and lower-case if configured."""
    text = text.strip()
    return text.lower() if lowercase else text


def encode(tokenizer: Any, texts: Sequence[str], lowercase: bool, inputs: set[str]) -> dict[str, np.ndarray]:
    """One session run's feeds for `texts` (prepared, tokenised, padded by the tokenizer file's rules)."""
    encodings = tokenizer.encode_batch([prepare(t, lowercase) for t in texts])
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    return {name: value for name, value in feeds.items() if name in inputs}


def run_graph(
    model_path: Path,
    tokenizer_path: Path,
    texts: Sequence[str],
    outputs: list[str],
    lowercase: bool = False,
    batch_size: int = 32,
    threads: int = 0,
    run_rows: int = SERVED_RUN_ROWS,
) -> dict[str, np.ndarray]:
    """The named outputs of one exported body graph for `texts`, in input order (CPU), run in the parts
    serving runs a call of `texts` in (`served_parts`)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))  # truncation and padding come from the file
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers = [CPU_PROVIDER]
    session = ort.InferenceSession(
        str(model_path), options, providers=providers, disabled_optimizers=disabled_optimizers(providers)
    )
    inputs = {i.name for i in session.get_inputs()}
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    parts = served_parts(texts, batch_size, run_rows)
    if not parts:
        raise ValueError("no texts to run")
    for rows in parts:
        values = session.run(outputs, encode(tokenizer, [texts[i] for i in rows], lowercase, inputs))
        for name, value in zip(outputs, values, strict=True):
            chunks[name].append(value)
    back = np.argsort(np.concatenate([np.asarray(rows, dtype=np.int64) for rows in parts]), kind="stable")
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
