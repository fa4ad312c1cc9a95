"""int8's second-look margins per label set: calibrated on texts the gate does not use, then gated."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import banking77_texts as _texts
from tests.serving.builders import Exported, exported
from training.export.bundle import bundle_from_version
from training.export.exporter import ExportOptions, export_bundle
from training.export.margins import FACTOR, MIN_TEXTS, QUANTILE, MarginChoice, calibrate_margins, next_margins
from training.export.parity import LabelSetParity, VariantParity, refused_label_sets
from training.export.predict import near_ties, run_graph
from training.registry import Registry


def _run(exp: Exported, variant: str, texts: list[str], batch_size: int = 32) -> dict[str, np.ndarray]:
    """Probabilities per label set of one graph of the shared export, without any second look."""
    manifest = json.loads((exp.export_dir / "export.json").read_text(encoding="utf-8"))
    outputs = {name: entry["output"] for name, entry in manifest["label_sets"].items()}
    values = run_graph(
        exp.export_dir / variant / "shared.onnx",
        exp.export_dir / "tokenizer" / "shared" / "tokenizer.json",
        texts,
        list(outputs.values()),
        batch_size=batch_size,
    )
    return {name: values[output] for name, output in outputs.items()}


def _export(
    tmp_path: Path,
    gate: list[str],
    calibration: list[str],
    ceiling: float,
    smooth: float = 0.8,
    min_agreement: float = 0.995,
) -> dict:
    """Export the shared test version again (fp32 and int8) with these texts; its manifest."""
    shared = exported()
    version = Registry(shared.registry_dir).get(shared.version)
    options = ExportOptions(
        variants=("fp32", "int8"),
        min_agreement=min_agreement,
        int8_fallback_margin=ceiling,
        int8_smooth=smooth,
        int8_keep_fp32="ffn_output",  # the shared export's recipe, whatever this CPU
    )
    bundle = bundle_from_version(version)
    export_bundle(bundle, tmp_path / "export", gate, options, calibration_texts=calibration)
    return json.loads((tmp_path / "export" / "export.json").read_text(encoding="utf-8"))


class TestCalibrateMargins:
    def test_twice_the_99th_percentile_error_rounded_up_and_capped(self) -> None:
        rng = np.random.default_rng(0)
        fp32 = {name: rng.dirichlet(np.ones(k), size=400) for name, k in (("a", 3), ("b", 5), ("c", 2))}
        noise = {"a": 0.01, "b": 0.04, "c": 0.3}
        int8 = {n: m + rng.uniform(-noise[n], noise[n], size=m.shape) for n, m in fp32.items()}
        choice = calibrate_margins([int8], fp32, ceiling=0.2)
        assert choice.source == "calibrated" and choice.texts == 400 and choice.shapes == 1
        for name in ("a", "b"):
            error = np.quantile(np.abs(int8[name] - fp32[name]).max(axis=1), QUANTILE)
            assert choice.margins[name] == math.ceil(FACTOR * error * 1000) / 1000
            assert FACTOR * error <= choice.margins[name] < FACTOR * error + 0.001
        assert choice.margins["a"] < choice.margins["b"] < 0.2
        assert choice.margins["c"] == 0.2  # 2 x ~0.3 is above the ceiling
        assert choice.to_dict()["errors"]["b"] == pytest.approx(0.04, abs=0.002)

    def test_too_few_texts_or_non_finite_probabilities_keep_the_fixed_margin(self) -> None:
        few = {"a": np.full((MIN_TEXTS - 1, 2), 0.5)}
        choice = calibrate_margins([few], few, ceiling=0.2)
        assert choice.source == "fixed" and choice.margins == {"a": 0.2}
        assert f"only {MIN_TEXTS - 1} calibration texts (at least {MIN_TEXTS})" in choice.note
        broken = {"a": np.full((MIN_TEXTS, 2), np.nan)}
        choice = calibrate_margins([broken], {"a": np.full((MIN_TEXTS, 2), 0.5)}, ceiling=0.2)
        assert choice.source == "fixed" and "not finite" in choice.note

    def test_each_row_counts_with_its_worst_shape(self) -> None:
        """Probabilities from several shapes of runs (older exports' int8 depended on them): a row off in
        any shape counts."""
        rng = np.random.default_rng(1)
        fp32 = {"a": rng.dirichlet(np.ones(3), size=200)}
        calm, off = fp32["a"] + 0.001, fp32["a"].copy()
        off[::2] += 0.05  # half the rows are off by 0.05, in the second shape only
        alone = calibrate_margins([{"a": calm}], fp32, ceiling=0.5)
        both = calibrate_margins([{"a": calm}, {"a": off}], fp32, ceiling=0.5)
        assert alone.margins["a"] == pytest.approx(FACTOR * 0.001, abs=0.0011)
        assert both.margins["a"] == pytest.approx(FACTOR * 0.05, abs=0.0011) and both.shapes == 2
        assert both.to_dict()["shapes"] == 2
        with pytest.raises(ValueError, match="no int8 probabilities"):
            calibrate_margins([], fp32, ceiling=0.5)


class TestExportCalibrates:
    def test_margins_come_from_calibration_texts_and_look_again_at_fewer_rows(self, tmp_path: Path) -> None:
        shared = exported()
        manifest = _export(tmp_path, shared.texts, _texts("banking77_train.jsonl", 120), ceiling=0.2)
        chosen = manifest["options"]["int8_margins"]
        assert chosen["source"] == "calibrated" and chosen["texts"] == 120 and chosen["shapes"] == 1
        second = manifest["variants"]["int8"]["fallback"]
        assert second["margins"] == chosen["margins"] and second["margin"] == max(chosen["margins"].values())
        for name, margin in second["margins"].items():
            twice = FACTOR * chosen["errors"][name]  # the error is stored rounded to 4 decimals
            assert twice - 0.0002 <= margin <= twice + 0.0012, name
            assert 0 < margin < 0.2, name  # measured: 0.03-0.05 on this test model
        parity = json.loads((tmp_path / "export" / "parity.json").read_text(encoding="utf-8"))
        int8 = next(v for v in parity["variants"] if v["variant"] == "int8")
        fixed = next(v for v in shared.parity["variants"] if v["variant"] == "int8")  # the fixed 0.2
        assert int8["fallback"]["share"]["shared"] < fixed["fallback"]["share"]["shared"]

    def test_refused_label_sets_get_the_fixed_margin_the_others_keep_theirs(self, tmp_path: Path) -> None:
        shared = exported()
        calibration = ["Hallo"] * MIN_TEXTS  # one calm text: int8 looks exact, so the margins come out tiny
        raw = _run(shared, "int8", calibration)
        margins = calibrate_margins([raw], _run(shared, "fp32", calibration), ceiling=0.99)
        # int8 flips few labels: the gate gets calm texts and the texts where it flips one unseen, except in
        # the label set that flips least (spared), and lets none through (min_agreement 1.0).
        pool = _texts("banking77_test.jsonl", 3000)
        fp32, int8 = _run(shared, "fp32", pool), _run(shared, "int8", pool)
        names = list(fp32)
        unseen = ~near_ties([int8[n] for n in names], [margins.margins[n] for n in names])
        flips = {n: unseen & (int8[n].argmax(axis=1) != fp32[n].argmax(axis=1)) for n in names}
        flipped = np.logical_or.reduce(list(flips.values()))
        spared = min(names, key=lambda n: int(flips[n].sum()))
        chosen = flipped & ~flips[spared]
        calm = [t for t, f in zip(pool, flipped, strict=True) if not f][:200]
        gate = calm + [t for t, c in zip(pool, chosen, strict=True) if c]
        refused = {n for n in names if (flips[n] & chosen).any()}
        assert refused, f"precondition: int8 flips a label set other than {spared} unseen"

        # Unsmoothed, so the export's int8 graph is the shared export's (no calibration texts there).
        manifest = _export(tmp_path, gate, calibration, ceiling=0.99, smooth=0, min_agreement=1.0)
        second = manifest["variants"]["int8"]["fallback"]
        assert manifest["variants"]["int8"]["published"]
        assert second["margins"] == {n: 0.99 if n in refused else margins.margins[n] for n in names}
        chosen = manifest["options"]["int8_margins"]
        assert chosen["source"] == "raised" and set(chosen["raised"]) == refused
        assert chosen["calibrated_margins"] == margins.margins
        assert chosen["note"].startswith("the calibrated margins") and "label agreement" in chosen["note"]
        parity = json.loads((tmp_path / "export" / "parity.json").read_text(encoding="utf-8"))
        int8 = next(v for v in parity["variants"] if v["variant"] == "int8")
        assert int8["fallback"]["source"] == "raised"


def _parity(agreed: dict[str, int], n: int = 200) -> VariantParity:
    """A gate result with these agreed counts per label set."""
    return VariantParity("int8", {name: LabelSetParity(name, n, a, 0.1) for name, a in agreed.items()}, {})


class TestAfterARefusal:
    CALIBRATED = MarginChoice({"a": 0.05, "b": 0.08, "c": 0.2}, "calibrated", texts=300, errors={}, shapes=1)

    def test_refused_label_sets(self) -> None:
        result = _parity({"a": 200, "b": 198, "c": 199})
        assert refused_label_sets(result, 0.995) == ["b"]  # 198/200 is 99.0%, 199/200 99.5%
        assert refused_label_sets(result, 0.99) == []

    def test_first_the_refused_sets_then_every_set_then_nothing(self) -> None:
        raised = next_margins(self.CALIBRATED, ["b"], 0.2, "not published: b")
        assert raised is not None and raised.source == "raised" and raised.raised == ("b",)
        assert raised.margins == {"a": 0.05, "b": 0.2, "c": 0.2}
        assert raised.to_dict()["calibrated_margins"] == self.CALIBRATED.margins
        assert "refused on b (not published: b)" in raised.note
        fixed = next_margins(raised, ["b"], 0.2, "not published: b again")
        assert fixed is not None and fixed.source == "fixed" and fixed.margins == dict.fromkeys("abc", 0.2)
        assert fixed.note.startswith(raised.note) and fixed.note.endswith("(not published: b again)")
        assert next_margins(fixed, ["b"], 0.2, "still") is None

    def test_straight_to_the_fixed_margin_when_raising_keeps_nothing_calibrated(self) -> None:
        # every set with a margin below the fixed one was refused: raising them is the fixed margin for all
        every = next_margins(self.CALIBRATED, ["a", "b"], 0.2, "not published: a, b")
        assert every is not None and every.source == "fixed" and every.margins == dict.fromkeys("abc", 0.2)
        assert every.note.startswith("the calibrated margins {'a': 0.05, 'b': 0.08, 'c': 0.2} were refused")
        # a refused set already at the fixed margin cannot be raised: the others are
        only_capped = next_margins(self.CALIBRATED, ["c"], 0.2, "not published: c")
        assert only_capped is not None and only_capped.source == "fixed"
