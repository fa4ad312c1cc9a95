"""`postroom outcomes`: how routed messages turned out, from closed cases' feedback (`router.outcomes`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from postroom.clikit import friendly_errors, load_settings, load_taxonomy_from, open_sessions, out
from postroom.settings import MAX_WINDOW_DAYS
from router.outcomes import FEW_CASES, ModelOutcomes, Outcomes, routing_outcomes


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _print_model(model: ModelOutcomes, triage: str) -> None:
    out.print(f"\nmodel {model.model_version}", markup=False)
    table = Table("label set", "judged", "right", "accuracy", "95 % interval", "")
    for s in model.label_sets:
        low, high = s.interval or (0.0, 0.0)
        note = f"fewer than {FEW_CASES} cases" if s.judged < FEW_CASES else ""
        shown = f"{low:.1%}-{high:.1%}"
        table.add_row(s.label_set, str(s.judged), str(s.right), _percent(s.accuracy), shown, note)
    out.print(table)
    if not model.queues:
        return
    table = Table("sent to", "messages", "belonged there", "the others went to")
    for q in model.queues:
        others = ", ".join(f"{k} {v}" for k, v in q.went_to.items()) or "-"
        belonged = "-" if q.queue == triage else f"{q.belonged} ({_percent(q.share)})"
        table.add_row(q.queue, str(q.sent), belonged, others)
    out.print(table)


def print_outcomes(result: Outcomes) -> None:
    out.print(
        f"outcomes of routed messages with feedback over the last {result.window_days} days "
        f"(since {result.since:%Y-%m-%d %H:%M} UTC), by the model that classified them"
        + ("" if result.models else ": no routed message has feedback"),
        markup=False,
    )
    for model in result.models:
        _print_model(model, result.triage_queue)


@friendly_errors
def outcomes_command(
    days: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_WINDOW_DAYS, help="Window in days (default: POSTROOM_FEEDBACK_WINDOW_DAYS, 30)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """How routed messages turned out: per model, each label set's accuracy against the closed cases' final
    classes (95 % interval), and per queue how many messages belonged there and where the others went.

    Only cases closed with feedback count (POST /v1/feedback): the figures describe that mail, not all mail.
    Example: postroom outcomes --days 7
    """
    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    with open_sessions(settings)() as session:
        result = routing_outcomes(session, taxonomy, days or settings.feedback_window_days)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        print_outcomes(result)
