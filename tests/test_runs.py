"""How a call is cut into session runs (`postroom.runs`): the rule serving and the parity gate share."""

from __future__ import annotations

import random

import numpy as np
import pytest

from postroom.runs import (
    CPU_RUN_ROWS,
    CPU_RUN_TOKENS,
    MIN_ROWS_PER_STREAM,
    Padding,
    Tokens,
    cpu_run_rows,
    cut_runs,
    feeds,
    shares_runs,
)


def _check(runs: list[list[int]], lengths: list[int], batch_size: int, run_rows: int, tokens: int) -> None:
    """Every row once; batches of sorted rows; each run within both limits unless it is one row."""
    assert sorted(r for run in runs for r in run) == list(range(len(lengths)))
    flat = [r for run in runs for r in run]
    assert [lengths[r] for r in flat] == sorted(lengths)  # runs follow the length order
    for run in runs:
        assert len(run) <= run_rows
        assert len(run) == 1 or len(run) * max(lengths[r] for r in run) <= tokens
    edges = set(range(0, len(lengths), batch_size))
    start = 0
    for run in runs:  # no run straddles two batches
        assert not any(start < edge < start + len(run) for edge in edges)
        start += len(run)


def test_short_texts_share_runs_and_long_ones_run_alone() -> None:
    lengths = [12] * 20 + [200, 256, 40, 60]
    runs = cut_runs(lengths, batch_size=32, run_rows=8, run_tokens=256)
    _check(runs, lengths, 32, 8, 256)
    shown = [[lengths[r] for r in run] for run in runs]
    # The 22 rows of up to 60 tokens in four runs (8 rows of 60 would pass 256), shared out from the
    # shortest; a long e-mail alone.
    assert shown == [[12] * 7, [12] * 6, [12] * 5, [12, 12, 40, 60], [200], [256]]


def test_cuts_hold_their_limits_on_random_calls() -> None:
    rng = random.Random(7)
    for _ in range(300):
        lengths = [rng.choice([3, 9, 17, 30, 64, 129, 256]) for _ in range(rng.randint(0, 80))]
        batch_size = rng.choice([1, 5, 8, 32, 100])
        run_rows = rng.choice([1, 4, 8])
        runs = cut_runs(lengths, batch_size, run_rows, CPU_RUN_TOKENS, streams=rng.choice([1, 2]))
        _check(runs, lengths, batch_size, run_rows, CPU_RUN_TOKENS)


def test_a_run_is_cut_only_where_a_limit_forces_it() -> None:
    """The token limit cuts where one more row would pass it; the row limit then shares rows out evenly."""
    assert cut_runs([100] * 4, 32, 8, 256) == [[0, 1], [2, 3]]  # 3 x 100 > 256
    assert cut_runs([10] * 9, 32, 8, 256) == [[0, 1, 2, 3, 4], [5, 6, 7, 8]]  # 9 rows: 5 + 4, not 8 + 1
    assert [len(r) for r in cut_runs([30] * 9, 32, 8, 256)] == [5, 4]  # both limits at once: 8 x 30 = 240
    # Two limits together: 7 x 10; 2 x 10 + 4 x 28; 5 x 28 (three runs, where cutting for tokens first and
    # rows after took four).
    assert [len(r) for r in cut_runs([10] * 9 + [28] * 9, 32, 8, 256)] == [7, 6, 5]
    assert cut_runs([300], 32, 8, 256) == [[0]]  # a row past the limit still runs
    assert cut_runs([], 32, 8, 256) == []
    assert cut_runs([5, 3, 9, 1], 32, 8, 256, rows=[2, 0, 3]) == [[3, 0, 2]]  # some rows of a call only


def test_without_a_token_limit_a_batch_splits_only_for_rows_and_streams() -> None:
    """What a GPU gets: the batch whole, or one part per stream when each part gets enough rows."""
    lengths = [50] * 32
    assert [len(r) for r in cut_runs(lengths, 32, 32, None)] == [32]
    assert [len(r) for r in cut_runs(lengths, 32, 32, None, streams=2)] == [16, 16]
    few = [50] * (2 * MIN_ROWS_PER_STREAM - 1)
    assert len(cut_runs(few, 32, 32, None, streams=2)) == 1  # too few rows for two streams


def test_rows_share_runs_as_the_export_says_and_older_int8_runs_alone() -> None:
    assert cpu_run_rows(True) == CPU_RUN_ROWS and cpu_run_rows(False) == 1
    assert shares_runs("int8", True) and not shares_runs("fp32", False)  # declared: as declared
    assert not shares_runs("int8", None)  # an export before per-token int8: its int8 quantised per run
    assert shares_runs("fp32", None) and shares_runs("optimized", None)


def test_feeds_pad_each_run_to_its_own_longest_row() -> None:
    tokens = Tokens(ids=[[101, 5, 102], [101, 7, 8, 9, 102]], type_ids=[[0, 0, 0], [0, 0, 0, 0, 0]])
    right = feeds(tokens, [0, 1], Padding(pad_id=0), {"input_ids", "attention_mask"})
    assert set(right) == {"input_ids", "attention_mask"}  # only the graph's inputs
    np.testing.assert_array_equal(right["input_ids"], [[101, 5, 102, 0, 0], [101, 7, 8, 9, 102]])
    np.testing.assert_array_equal(right["attention_mask"], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = feeds(tokens, [0], Padding(pad_id=1, type_id=3, left=True), {"input_ids", "token_type_ids"})
    np.testing.assert_array_equal(left["input_ids"], [[101, 5, 102]])  # alone: no padding at all
    both = feeds(tokens, [1, 0], Padding(pad_id=1, type_id=3, left=True), {"input_ids", "token_type_ids"})
    np.testing.assert_array_equal(both["input_ids"], [[101, 7, 8, 9, 102], [1, 1, 101, 5, 102]])
    np.testing.assert_array_equal(both["token_type_ids"], [[0] * 5, [3, 3, 0, 0, 0]])
    assert both["input_ids"].dtype == np.int64


@pytest.mark.parametrize("fixed", [{"length": 128}, {"pad_to_multiple_of": 8}])
def test_a_tokenizer_that_pads_to_a_fixed_length_is_refused(tmp_path, fixed: dict) -> None:
    from tokenizers import Tokenizer, models

    from postroom.runs import load_tokenizer

    tokenizer = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", **fixed)
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    with pytest.raises(ValueError, match="fixed-length padding"):
        load_tokenizer(path)
