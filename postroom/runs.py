"""How a call's texts become ONNX Runtime session runs: tokenised once, cut into runs, each padded on its own.

One rule for the service (`serving.runtime`) and the parity gate (`training.export.predict`), so the gate
measures the runs serving makes.

A call's rows are sorted by token count and taken in batches; on the CPU a batch is cut into runs of at most
`CPU_RUN_ROWS` rows and at most `CPU_RUN_TOKENS` padded tokens (rows x the run's longest row): a few short
texts share a run, a long e-mail runs alone (measured in docs/serving-performance.md). A GPU takes a batch
whole. A row's scores do not depend on the rows beside it (int8 quantises each token on its own; the export's
gate checks it), except in int8 graphs exported before that (`shares_runs`): their rows run alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# On the CPU a session run takes at most this many rows: of a batch sorted by length, small runs pad less, and
# per message they ran faster (one int8 body, one thread, calls of 32 BANKING77 texts: 283 msg/s in runs of
# 16 rows, 321 in runs of 8, 307 in runs of 4; fp32 166 / 203 / 194; docs/serving-performance.md).
CPU_RUN_ROWS = 8
# ... and at most this many padded tokens: a run of 8 long e-mails is 8 x 256 token rows, whose activations
# leave the core's cache; alone they ran 1.43x faster, while one-line texts ran 1.32x faster eight at a
# time (fp32, session 28; docs/serving-performance.md).
CPU_RUN_TOKENS = 256
# Exports made before int8 was quantised per token (session 30) say nothing of their runs; their int8
# quantised a run's activations with one range, so a row's scores depended on its neighbours (up to 0.09 on
# the demo): such rows run alone.
PER_RUN_QUANTISED = frozenset({"int8"})
MIN_ROWS_PER_STREAM = 8  # a batch splits across streams only when each part gets at least this many rows


def shares_runs(variant: str, declared: bool | None) -> bool:
    """Whether rows of `variant` may share a session run: as its export declares, or for an export that does
    not, unless it is int8 (`PER_RUN_QUANTISED`)."""
    return declared if declared is not None else variant not in PER_RUN_QUANTISED


def cpu_run_rows(shared: bool) -> int:
    """The most rows one CPU session run takes: `CPU_RUN_ROWS`, or 1 where rows may not share runs."""
    return CPU_RUN_ROWS if shared else 1


@dataclass(frozen=True)
class Padding:
    """How a tokenizer file pads a batch: `pad_id` and `type_id` after (or, `left`, before) a text."""

    pad_id: int = 0
    type_id: int = 0
    left: bool = False


@dataclass(frozen=True)
class Tokens:
    """A call's texts tokenised, unpadded: per text its token IDs and type IDs."""

    ids: list[list[int]]
    type_ids: list[list[int]]

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]


def load_tokenizer(path: Path) -> tuple[Any, Padding]:
    """A `tokenizers` tokenizer from `path` with its padding switched off (each run pads its own rows), and
    that padding. Truncation stays as the file sets it."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    config = tokenizer.padding
    padding = Padding()
    if config:
        if config.get("pad_to_multiple_of") or config.get("length"):
            raise ValueError(f"{path}: fixed-length padding (the export pads to the longest text of a run)")
        padding = Padding(
            pad_id=int(config.get("pad_id", 0)),
            type_id=int(config.get("pad_type_id", 0)),
            left=str(config.get("direction", "right")).lower() == "left",
        )
    tokenizer.no_padding()
    return tokenizer, padding


def prepare(text: str, lowercase: bool) -> str:
    """What sentence-transformers does to a text before tokenising: strip, and lower-case if configured."""
    text = text.strip()
    return text.lower() if lowercase else text


def tokenize(tokenizer: Any, texts: Sequence[str], lowercase: bool) -> Tokens:
    """`texts` prepared and tokenised by an unpadded tokenizer (`load_tokenizer`)."""
    encodings = tokenizer.encode_batch([prepare(t, lowercase) for t in texts])
    return Tokens([e.ids for e in encodings], [e.type_ids for e in encodings])


def feeds(tokens: Tokens, rows: Sequence[int], padding: Padding, inputs: frozenset[str] | set[str]) -> dict:
    """One run's inputs: `rows` of `tokens` padded to the longest of them, as the tokenizer would pad them;
    only the inputs the graph has (`token_type_ids` is optional)."""
    width = max(len(tokens.ids[r]) for r in rows)
    ids = np.full((len(rows), width), padding.pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    types = np.full((len(rows), width), padding.type_id, dtype=np.int64)
    for k, row in enumerate(rows):
        n = len(tokens.ids[row])
        span = slice(width - n, width) if padding.left else slice(0, n)
        ids[k, span] = tokens.ids[row]
        mask[k, span] = 1
        types[k, span] = tokens.type_ids[row]
    out = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    return {name: value for name, value in out.items() if name in inputs}


def cut_runs(
    lengths: Sequence[int],
    batch_size: int,
    run_rows: int,
    run_tokens: int | None = None,
    streams: int = 1,
    rows: Sequence[int] | None = None,
) -> list[list[int]]:
    """Row indices of each session run of one call (or of its `rows`): rows sorted by token count
    (`lengths`, indexed by row), in batches of at most `batch_size`; a batch cut into as few runs as
    `run_rows` and `run_tokens` (rows x the run's longest row; None: no limit) allow, rows shared out as
    evenly as both limits allow, and into at least one run per stream when each gets `MIN_ROWS_PER_STREAM`
    rows."""
    chosen = range(len(lengths)) if rows is None else rows
    order = sorted(chosen, key=lambda i: lengths[i])
    runs: list[list[int]] = []
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        cut = _balance(_fill(batch, lengths, run_rows, run_tokens), lengths, run_rows, run_tokens)
        by_stream = min(streams, len(batch) // MIN_ROWS_PER_STREAM) or 1
        while len(cut) < by_stream:  # a part of a run is within both limits too
            largest = max(range(len(cut)), key=lambda k: len(cut[k]))
            run = cut[largest]
            cut[largest : largest + 1] = [run[: -(-len(run) // 2)], run[-(-len(run) // 2) :]]
        runs.extend(cut)
    return runs


def _fits(count: int, longest: int, run_rows: int, run_tokens: int | None) -> bool:
    return count <= run_rows and (run_tokens is None or count * max(longest, 1) <= run_tokens)


def _fill(batch: list[int], lengths: Sequence[int], run_rows: int, run_tokens: int | None) -> list[list[int]]:
    """`batch` (sorted by length) in the fewest runs: each takes rows while both limits allow (a row
    longer than `run_tokens` runs alone)."""
    runs: list[list[int]] = []
    for row in batch:
        if runs and _fits(len(runs[-1]) + 1, lengths[row], run_rows, run_tokens):
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def _balance(
    runs: list[list[int]], lengths: Sequence[int], run_rows: int, run_tokens: int | None
) -> list[list[int]]:
    """Rows moved between neighbouring runs, from the larger to the smaller, while both limits allow:
    8 + 1 rows become 5 + 4, so runs side by side finish together. Each move makes the sizes more alike,
    so it ends."""
    moved = True
    while moved:
        moved = False
        for a, b in itertools.pairwise(runs):
            while len(a) > len(b) + 1 and _fits(len(b) + 1, lengths[b[-1]], run_rows, run_tokens):
                b.insert(0, a.pop())  # b's longest row stays its longest
                moved = True
            while len(b) > len(a) + 1 and _fits(len(a) + 1, lengths[b[0]], run_rows, run_tokens):
                a.append(b.pop(0))  # b's shortest row becomes a's longest
                moved = True
    return runs
