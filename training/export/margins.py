"""int8's second-look margins, one per label set, from messages the parity gate does not use.

int8 can change a row's label only where the gap between its top two int8 probabilities is smaller than
int8's error on those two classes together, which is at most twice its largest probability error on the row.
So with a margin of `2 * e`, a label can flip unseen only on a row whose error exceeds `e`. `e` is the 99th
percentile of int8's largest probability error (against the fp32 graph, which the second look runs) per label
set, int8 run as served (a row scores the same in any run: it is quantised per token), measured on the
version's training messages and other stored messages that are not held out: the
held-out messages stay the gate's, which then checks the margins as served. The margin never exceeds
`--int8-fallback-margin` (the fixed margin, used for every label set when there are too few texts).

When the gate refuses the calibrated margins, `next_margins` says what to gate next: first the fixed margin
for the label sets the gate refused only, the others keeping theirs (`raised`); if that is refused too, the
fixed margin for every label set. Each step looks again at a superset of the rows of the step before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

QUANTILE = 0.99
FACTOR = 2.0
MIN_TEXTS = 50  # below this a 99th percentile rests on too few rows: the fixed margin is used


@dataclass(frozen=True)
class MarginChoice:
    """The second look's margin per label set and where it came from: `calibrated`, `raised` (calibrated, the
    label sets in `raised` at the fixed margin) or `fixed`."""

    margins: dict[str, float]
    source: str
    texts: int = 0
    errors: dict[str, float] | None = None  # int8's QUANTILE largest probability error per label set
    note: str = ""
    shapes: int = 0  # how many run shapes each row's error was the worst of
    raised: tuple[str, ...] = ()  # label sets the gate refused at their calibrated margin
    calibrated: dict[str, float] | None = None  # the calibrated margins, where some were raised since

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"source": self.source, "margins": self.margins, "texts": self.texts}
        if self.errors is not None:
            record.update(quantile=QUANTILE, factor=FACTOR, errors=self.errors, shapes=self.shapes)
        if self.raised:
            record.update(raised=list(self.raised), calibrated_margins=self.calibrated)
        if self.note:
            record["note"] = self.note
        return record


def fixed_margins(label_sets: list[str], margin: float, note: str) -> MarginChoice:
    return MarginChoice({name: margin for name in label_sets}, "fixed", note=note)


def too_few(label_sets: list[str], texts: int, ceiling: float) -> MarginChoice | None:
    """The fixed margin when `texts` are too few to calibrate on, else None."""
    if texts >= MIN_TEXTS:
        return None
    note = f"only {texts} calibration texts (at least {MIN_TEXTS}): the fixed margin"
    return fixed_margins(label_sets, ceiling, note)


def calibrate_margins(
    int8_shapes: Sequence[Mapping[str, np.ndarray]], fp32: Mapping[str, np.ndarray], ceiling: float
) -> MarginChoice:
    """Per label set `min(ceiling, FACTOR * quantile)` of int8's largest probability error per row.

    `int8_shapes` holds int8's probabilities (without its second look) on the texts of `fp32`, once per shape
    it runs in; a row's error is its largest in any of them. Rounded up to three decimals, so the margin is
    never below what the rule asks for.
    """
    if not int8_shapes:
        raise ValueError("no int8 probabilities to calibrate on")
    names = list(fp32)
    rows = len(fp32[names[0]]) if names else 0
    few = too_few(names, rows, ceiling)
    if few is not None:
        return few
    errors: dict[str, float] = {}
    margins: dict[str, float] = {}
    for name in names:
        reference = np.asarray(fp32[name], np.float64)
        worst = np.max(
            [np.abs(np.asarray(shape[name], np.float64) - reference).max(axis=1) for shape in int8_shapes],
            axis=0,
        )
        error = float(np.quantile(worst, QUANTILE))
        if not math.isfinite(error):
            return fixed_margins(
                names, ceiling, f"int8's probabilities on {name} are not finite: the fixed margin"
            )
        errors[name] = round(error, 4)
        margins[name] = min(ceiling, math.ceil(FACTOR * error * 1000) / 1000)
    return MarginChoice(margins, "calibrated", texts=rows, errors=errors, shapes=len(int8_shapes))


def next_margins(
    choice: MarginChoice, refused: Sequence[str], ceiling: float, reason: str
) -> MarginChoice | None:
    """What to gate next after the gate refused int8 with `choice` (`refused`: the label sets below the gate,
    `reason`: the gate's words); None after the fixed margin, which is the last resort.

    Calibrated margins: the fixed margin for the refused label sets only, while some others keep a smaller
    calibrated one (their rows passed as they were). Otherwise, or when that is refused too: the fixed margin
    for every label set, and the note says what was refused before.
    """
    if choice.source == "fixed":
        return None
    names = list(choice.margins)
    if choice.source == "calibrated":
        raise_ = [n for n in names if n in refused and choice.margins[n] < ceiling]
        keep = [n for n in names if n not in refused and choice.margins[n] < ceiling]
        if raise_ and keep:
            return MarginChoice(
                {n: ceiling if n in raise_ else m for n, m in choice.margins.items()},
                "raised",
                texts=choice.texts,
                errors=choice.errors,
                shapes=choice.shapes,
                raised=tuple(raise_),
                calibrated=dict(choice.margins),
                note=f"the calibrated margins {choice.margins} were refused on {', '.join(raise_)} "
                f"({reason}): the fixed margin there",
            )
        why = f"the calibrated margins {choice.margins} were refused ({reason})"
    else:  # raised, and refused again
        why = f"{choice.note}; refused again ({reason})"
    return fixed_margins(names, ceiling, why)
