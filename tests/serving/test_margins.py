"""`python -m serving.margins`: int8's agreement with fp32 and the rows looked at again, per margin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.margins import main
from tests.serving.builders import LONG_TEXT, isolated


def test_the_table_spans_no_second_look_to_every_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    exp = isolated(tmp_path)
    capsys.readouterr()  # building the shared export (first use) prints ONNX Runtime's optimizer notes
    texts = tmp_path / "texts.jsonl"
    rows = [*exp.texts, LONG_TEXT]
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows), encoding="utf-8")
    main(["--export", str(exp.export_dir), "--texts", str(texts), "--margins", "0,0.2,1.01"])
    table = json.loads(capsys.readouterr().out)
    assert table["texts"] == len(rows) and table["label_sets"]
    for entry in table["label_sets"].values():
        never, always = entry["margins"]["0.0"], entry["margins"]["1.01"]
        assert never["looked_again"] == 0.0 and always == {"agreement": 1.0, "looked_again": 1.0}
        assert never["agreement"] <= entry["margins"]["0.2"]["agreement"] <= 1.0
        assert entry["max_abs_error"] == sorted(entry["max_abs_error"]) and entry["max_abs_error"][-1] > 0


def test_a_missing_text_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--export", str(tmp_path), "--texts", str(tmp_path / "none.jsonl")])
    assert "no such file" in capsys.readouterr().err


def test_bad_margins_and_a_directory_without_an_export_are_refused_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": "Karte verloren"}) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["--export", str(tmp_path), "--texts", str(texts), "--margins", "0.1,lots"])
    assert "--margins must be numbers separated by commas, got '0.1,lots'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--export", str(tmp_path / "nowhere"), "--texts", str(texts)])
    error = capsys.readouterr().err
    assert "nowhere" in error and "Traceback" not in error
