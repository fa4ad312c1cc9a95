"""`postroom bench route`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from postroom.clikit import SHARED_DATA, CliRoots, friendly_errors, load_settings, out


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}") from None


def bench_route(
    shots: Annotated[str, typer.Option(help="Labeled examples per intent, comma-separated.")] = "8,16",
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated.")] = "0,1,2,3,4",
    models: Annotated[str, typer.Option(help="frozen, setfit or both.")] = "frozen,setfit",
    setfit_seeds: Annotated[str | None, typer.Option(help="Seeds for setfit (default: --seeds).")] = None,
    calibration_fraction: Annotated[
        float,
        typer.Option(help="Share of each intent's train messages outside the sample used for calibration."),
    ] = 0.8,
    target_precision: Annotated[float, typer.Option()] = 0.95,
    confidence: Annotated[float, typer.Option()] = 0.9,
    full: Annotated[bool, typer.Option("--full", help="No CPU step cap (GPU runs).")] = False,
    cpu_max_steps: Annotated[
        int | None, typer.Option(help="SetFit step cap on CPU (default: the training default).")
    ] = None,
    self_train_rounds: Annotated[
        int | None, typer.Option(help="SetFit head self-training rounds (0: off; default: as training).")
    ] = None,
    data_root: Annotated[Path, typer.Option(help="The shared datasets.")] = SHARED_DATA,
    out_dir: Annotated[Path, typer.Option(help="Where route.json and route.md go.")] = Path(
        "docs/benchmarks"
    ),
) -> None:
    """Automated-reply coverage and realized precision on BANKING77 with guaranteed per-class thresholds.

    Example: postroom bench route --shots 8,16 --seeds 0,1,2,3,4 --models frozen,setfit --setfit-seeds 0,1
    """
    from postroom.offline import force_offline

    force_offline()
    from benchmarks.route import RouteOptions, run_route_benchmark

    settings = load_settings()
    options = RouteOptions(
        data_root=data_root,
        out_dir=out_dir,
        command="postroom " + shlex.join(sys.argv[1:]),
        shots=_ints(shots),
        seeds=_ints(seeds),
        models=[m.strip() for m in models.split(",") if m.strip()],
        setfit_seeds=_ints(setfit_seeds) if setfit_seeds else None,
        calibration_fraction=calibration_fraction,
        target_precision=target_precision,
        confidence=confidence,
        full_schedule=full,
        cpu_max_steps=cpu_max_steps,
        self_train_rounds=self_train_rounds,
        base_model=settings.resolved_base_model(),
        cache_dir=settings.data_dir / "cache",
    )
    if not 0.0 < calibration_fraction < 1.0:
        raise typer.BadParameter(f"--calibration-fraction must be in (0, 1), got {calibration_fraction}")
    unknown = set(options.models) - {"frozen", "setfit"}
    if unknown:
        raise typer.BadParameter(f"unknown model(s) {sorted(unknown)}: use frozen and/or setfit")
    result = run_route_benchmark(options)
    for row in result["summary"]:
        out.print(
            f"{row['model']} N={row['shots']} {row['strategy']}: {row['coverage']['mean']:.1%} auto-answered "
            f"at precision {row['precision']['mean']:.1%}"
        )
    out.print(f"wrote {out_dir / 'route.json'} and {out_dir / 'route.md'}")


def register(roots: CliRoots) -> None:
    roots.bench.command("route")(friendly_errors(bench_route))
