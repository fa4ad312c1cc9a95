"""The benchmark writes its report with the command, date and machine; run on a small real subset."""

from __future__ import annotations

import json
from pathlib import Path

from postroom.cleaning.benchmark import load_cases, run_clean_benchmark

from .conftest import load_records


def test_benchmark_writes_json_and_markdown(fixtures_path: Path, tmp_path: Path) -> None:
    records = load_records()
    subset = [r for r in records if r["source"] != "HPI-Information-Systems/Quagga"][:10]
    subset += [r for r in records if "line_labels" in r][:5]
    small = tmp_path / "data" / "email_cleaning" / "fixtures.jsonl"
    small.parent.mkdir(parents=True)
    small.write_text("".join(json.dumps(r) + "\n" for r in subset), encoding="utf-8")
    report = run_clean_benchmark(small, tmp_path / "out", command="postroom bench clean")
    written = json.loads((tmp_path / "out" / "clean.json").read_text(encoding="utf-8"))
    markdown = (tmp_path / "out" / "clean.md").read_text(encoding="utf-8")
    assert written["command"] == report["command"] == "postroom bench clean"
    assert written["date"] and written["machine"]
    assert "postroom" in written["systems"]
    assert "`postroom bench clean`" in markdown and "## Speed" in markdown
    assert len(load_cases(small)) == len(subset)
