"""What `postroom outcomes` prints: how routed messages turned out, from closed cases' feedback
(`router.outcomes`).

The command is registered by serving (`serving.cli`): it sets each label set's held-out accuracy from the
model registry beside the realized one, as `GET /v1/lead/outcomes` does, and the router may not read the
registry. This module prints that data.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from postroom.clikit import out
from router.outcomes import FEW_CASES


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _note(entry: dict[str, Any]) -> str:
    notes = []
    if entry["judged"] < FEW_CASES:
        notes.append(f"fewer than {FEW_CASES} cases")
    if entry.get("below_held_out"):
        notes.append("below held-out: the mail moved")
    return "; ".join(notes)


def _print_model(model: dict[str, Any], triage: str) -> None:
    out.print(f"\nmodel {model['model_version']}", markup=False)
    table = Table("label set", "judged", "right", "accuracy", "95 % interval", "held-out", "")
    for s in model["label_sets"]:
        low, high = s["interval"] or (0.0, 0.0)
        held = s.get("held_out_accuracy")
        table.add_row(
            s["label_set"],
            str(s["judged"]),
            str(s["right"]),
            _percent(s["accuracy"]),
            f"{low:.1%}-{high:.1%}",
            "-" if held is None else f"{held:.1%}",
            _note(s),
        )
    out.print(table)
    replied = model.get("auto_replied", 0)
    if not model["queues"] and not replied:
        return
    table = Table("sent to", "messages", "belonged there", "the others went to")
    for q in model["queues"]:
        others = ", ".join(f"{k} {v}" for k, v in q["went_to"].items()) or "-"
        belonged = "-" if q["queue"] == triage else f"{q['belonged']} ({_percent(q['share'])})"
        table.add_row(q["queue"], str(q["sent"]), belonged, others)
    if replied:  # so that the rows add up to the judged messages
        table.add_row("(answered automatically)", str(replied), "-", "sent to no queue")
    out.print(table)


def print_outcomes(data: dict[str, Any]) -> None:
    """Print `data` (`Outcomes.to_dict()`, with `held_out_accuracy` and `below_held_out` per label set where
    known) as tables, one block per model."""
    since = data["since"].replace("T", " ")[:16]
    out.print(
        f"outcomes of routed messages with feedback over the last {data['window_days']} days "
        f"(since {since} UTC), by the model that classified them"
        + ("" if data["models"] else ": no routed message has feedback"),
        markup=False,
    )
    for model in data["models"]:
        _print_model(model, data["triage_queue"])
