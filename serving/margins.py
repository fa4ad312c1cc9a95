"""What int8's second look buys per margin: label agreement with fp32 and the share of rows run again.

For choosing `postroom export --int8-fallback-margin`: runs an export's int8 graph without its second look and
its fp32 graph on the same texts, then applies the second-look rule (`near_ties`) at every margin asked for.
A row agrees when int8 predicts fp32's class or the rule would send it to fp32.

    python -m serving.margins --export var/models/exports/v0001 --texts banking77_test.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from postroom.errors import PostroomError
from serving.runtime import OnnxClassifier, near_ties


def margin_table(export: Path, texts: Sequence[str], margins: Sequence[float]) -> dict[str, Any]:
    """Per label set: quantiles of int8's largest probability error, and per margin agreement and share."""
    # Unpublished graphs too: an int8 the gate refused is what this analysis is for.
    raw = OnnxClassifier(
        export, variant="int8", provider="cpu", signals=False, allow_unpublished=True, second_look=False
    )
    reference = OnnxClassifier(export, variant="fp32", provider="cpu", signals=False, allow_unpublished=True)
    int8, fp32 = raw.predict_proba(texts), reference.predict_proba(texts)
    served = raw.manifest.variants["int8"].fallback
    quantiles = (0.5, 0.9, 0.99, 1.0)
    out: dict[str, Any] = {"texts": len(texts), "error_quantiles": list(quantiles), "label_sets": {}}
    for name in int8:
        error = np.abs(int8[name] - fp32[name]).max(axis=1)
        same = int8[name].argmax(axis=1) == fp32[name].argmax(axis=1)

        def outcome(margin: float, name: str = name, same: np.ndarray = same) -> dict[str, float]:
            again = near_ties([int8[name]], margin)
            return {
                "agreement": round(float((same | again).mean()), 4),
                "looked_again": round(float(again.mean()), 4),
            }

        out["label_sets"][name] = {
            "max_abs_error": [round(float(np.quantile(error, q)), 3) for q in quantiles],
            "margins": {str(margin): outcome(margin) for margin in margins},
            # the export's own margin for this set, as served (none: int8 has no second look there)
            **(
                {"served": {"margin": served.margin_of(name), **outcome(served.margin_of(name))}}
                if served
                else {}
            ),
        }
    return out


def _read_texts(path: Path, limit: int) -> list[str]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return [r["text"] for r in rows][:limit]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True, help="an export directory with int8 and fp32")
    parser.add_argument("--texts", type=Path, required=True, help="JSONL with a `text` field per line")
    parser.add_argument("--limit", type=int, default=3080)
    parser.add_argument("--margins", default="0.05,0.08,0.1,0.15,0.2")
    args = parser.parse_args(argv)
    if not args.texts.is_file():
        parser.error(f"no such file: {args.texts}")
    try:
        margins = [float(m) for m in args.margins.split(",")]
    except ValueError:
        parser.error(f"--margins must be numbers separated by commas, got {args.margins!r}")
    try:
        table = margin_table(args.export, _read_texts(args.texts, args.limit), margins)
    except PostroomError as exc:  # not an export, no int8 or fp32 graph, a corrupt file
        parser.error(str(exc))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
