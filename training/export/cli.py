"""`postroom export VERSION`: Optimum ONNX export with the parity gate. Imports torch only when it runs.

Registered through the `postroom.cli` entry point `export = "training.export.cli:register"`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from postroom.clikit import CliRoots, err, friendly_errors, load_settings, open_sessions, out
from training.export.layout import VARIANTS


@friendly_errors
def export(
    version: Annotated[str, typer.Argument(help="Version: v0003, 3, latest or production.")] = "latest",
    variants: Annotated[str, typer.Option(help="Comma-separated subset of fp32,optimized,int8.")] = ",".join(
        VARIANTS
    ),
    min_agreement: Annotated[
        float, typer.Option(help="Parity gate: least label agreement per label set.")
    ] = 0.995,
    texts: Annotated[
        Path | None, typer.Option(help="JSONL with a `text` field for the gate, instead of the held-out set.")
    ] = None,
    int8_keep_fp32: Annotated[
        str,
        typer.Option(
            help="auto (with VNNI: none, then ffn_output if the gate refuses it; else ffn_output) | "
            "ffn_output (the feed-forward output MatMuls stay fp32) | none."
        ),
    ] = "auto",
    int8_target: Annotated[
        str,
        typer.Option(
            help="auto (this CPU's: avx512_vnni with VNNI, else avx2) | avx512_vnni | avx2 | arm64: "
            "the serving CPUs' (avx2: 7-bit activations, which x86 CPUs without VNNI multiply without "
            "saturating)."
        ),
    ] = "auto",
    int8_smooth: Annotated[
        float,
        typer.Option(
            help="Smooth int8's MatMul inputs per channel on the stored messages not held out "
            "(SmoothQuant's alpha, exact in fp32); 0: off."
        ),
    ] = 0.8,
    int8_fallback_margin: Annotated[
        float,
        typer.Option(
            help="int8 rows whose top two probabilities are closer than this run again on fp32 (the "
            "largest margin when calibrated); 0: never."
        ),
    ] = 0.2,
    calibrate_int8_margin: Annotated[
        bool,
        typer.Option(
            "--calibrate-int8-margin/--fixed-int8-margin",
            help="Margin per label set: twice int8's 99th-percentile probability error on the stored "
            "messages that are not held out (at most --int8-fallback-margin); or that margin for all.",
        ),
    ] = True,
    keep_unpublished: Annotated[bool, typer.Option(help="Keep graphs that failed the gate.")] = False,
    replace_production: Annotated[
        bool,
        typer.Option(
            help="Re-export the version in production: the running service loads the new graphs, and its "
            "thresholds must be calibrated again."
        ),
    ] = False,
) -> None:
    """Export a registered model to ONNX (fp32, optimised, int8) and gate each variant on parity.

    Every variant is compared with the PyTorch model on the version's held-out messages; a variant with
    less than --min-agreement label agreement on any label set is not published. Writes
    <registry>/exports/<version>/. Exits 1 when no variant passes.
    Example: postroom export latest
    """
    from postroom.offline import force_offline

    force_offline()
    from training.export.bundle import bundle_from_version
    from training.export.errors import ExportError
    from training.export.exporter import ExportOptions, export_bundle
    from training.export.quiet import known_export_warnings_silenced
    from training.export.source import (
        calibration_texts,
        export_dir,
        heldout_texts,
        resolve_version,
        texts_from_jsonl,
    )
    from training.registry import Registry

    settings = load_settings()
    registry = Registry(settings.registry_dir)
    model = resolve_version(registry, version)
    try:
        options = ExportOptions(
            variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
            min_agreement=min_agreement,
            int8_keep_fp32=int8_keep_fp32,  # type: ignore[arg-type]
            int8_target=int8_target,  # type: ignore[arg-type]
            int8_smooth=int8_smooth,
            int8_fallback_margin=int8_fallback_margin,
            calibrate_int8_margins=calibrate_int8_margin,
            keep_unpublished=keep_unpublished,
        )
    except ValueError as exc:  # ExportOptions names its fields (`min_agreement`): say the option instead
        as_options = re.sub(r"`([a-z0-9_]+)`", lambda m: "--" + m[1].replace("_", "-"), str(exc))
        raise ExportError(as_options) from None
    if model.stage == "production" and not replace_production:
        raise ExportError(
            f"{model.version} is in production: a new export replaces the graphs the running service serves "
            "(at its next registry watch or reload) while its thresholds stay calibrated on the old ones' "
            "probabilities; train or export another version and promote it, or add --replace-production "
            "and run `postroom calibrate` and `postroom thresholds suggest` again afterwards"
        )
    bundle = bundle_from_version(model)  # refuses a version whose files are missing or changed, first
    with open_sessions(settings)() as session:
        if texts is not None:
            gate_texts, missing = texts_from_jsonl(texts), 0
        else:
            gate_texts, missing = heldout_texts(session, model)
        wants_calibration = calibrate_int8_margin or int8_smooth > 0
        calibration = calibration_texts(session, model) if wants_calibration else []
    if missing:
        err.print(f"[yellow]note:[/yellow] {missing} held-out messages are not in the store (or empty)")
    target = export_dir(registry, model.version)
    with err.status("exporting…") as status, known_export_warnings_silenced():
        result = export_bundle(
            bundle,
            target,
            gate_texts,
            options,
            progress=lambda m: status.update(m),
            calibration_texts=calibration,
        )
    where = "held-out texts" if texts is None else f"texts of {texts.name}"
    table = Table(title=f"export {model.version}: parity with PyTorch on {len(gate_texts)} {where}")
    for column in ("variant", "published", "lowest agreement", "max |Δp|", "min cosine", "fp32 second look"):
        table.add_column(column)
    for p in result.parity:
        sets = list(p.label_sets.values())
        table.add_row(
            p.variant,
            "yes" if p.published else "no",
            f"{100 * min(s.agreement for s in sets):.2f}%" if sets else "-",
            f"{max(s.max_abs_diff for s in sets):.4f}" if sets else "-",
            f"{min(p.cosine_min.values()):.4f}" if p.cosine_min else "-",
            _second_look(p.fallback),
        )
    out.print(table)
    for p in result.parity:
        out.print(f"{p.variant}: {p.reason}", highlight=False, soft_wrap=True)
        if p.fallback:
            out.print(_margins_line(p.variant, p.fallback), highlight=False, soft_wrap=True)
    if "int8" in options.variants:
        out.print(_int8_line(result.manifest["options"]), highlight=False, soft_wrap=True)
    out.print(f"published {', '.join(result.published)} to {result.path}", highlight=False)
    if model.stage == "production" and result.published:
        err.print(
            f"[yellow]note:[/yellow] {model.version} is in production: a running service loads this export "
            "(its registry watch, or `POST /v1/admin/reload`), and the thresholds were calibrated on the "
            "probabilities of the export it replaced; run `postroom calibrate` and `postroom thresholds "
            "suggest` again",
            highlight=False,
            soft_wrap=True,
        )


_RECIPES = {"ffn_output": "feed-forward outputs in fp32", "none": "every weight MatMul quantised"}


def _int8_line(chosen: dict) -> str:
    """How int8 was built: its weights' target, how its activations are quantised, and whether (and on
    what) its inputs were smoothed."""
    target = chosen["int8_target"]
    asked = " (this CPU's)" if chosen.get("int8_target_asked") == "auto" else ""
    smoothing = chosen["int8_smoothing"]
    how = smoothing.get("note") or (
        f"inputs smoothed (alpha {smoothing['alpha']}) on {smoothing['texts']} stored messages not held out"
    )
    refused = "".join(
        f"; first {_RECIPES[a['int8_keep_fp32']]}: {a['reason']}" for a in chosen.get("int8_keep_refused", [])
    )
    quantised = chosen.get("int8_activations", {})
    bits = f" in {quantised['bits']} bits" if quantised.get("bits", 8) != 8 else ""
    per_token = quantised.get("quantised") == "per_token"
    activations = f", activations quantised per token{bits}" if per_token else ""
    recipe = _RECIPES[chosen["int8_keep_fp32"]]
    return f"int8 built for {target}{asked}, {recipe}{activations}{refused}; {how}"


def _second_look(fallback: dict) -> str:
    """The table cell: where the margins came from and the share of rows looked at again."""
    if not fallback:
        return "-"
    shares = [100 * share for share in fallback["share"].values()]
    spread = (
        f"{min(shares):.0f}%" if max(shares) - min(shares) < 0.5 else f"{min(shares):.0f}-{max(shares):.0f}%"
    )
    return f"{fallback['source']}, {spread} of rows"


def _margins_line(variant: str, fallback: dict) -> str:
    """The margins per label set in full, what they were calibrated on, and why a fixed one was used."""
    margins = ", ".join(f"{name} {margin}" for name, margin in fallback["margins"].items())
    line = f"{variant} second look (fp32) where the top two probabilities are closer than: {margins}"
    if fallback["source"] in ("calibrated", "raised"):
        line += f" (calibrated on {fallback['texts']} stored messages not held out)"
    return line + (f"; {fallback['note']}" if fallback.get("note") else "")


def register(roots: CliRoots) -> None:
    roots.app.command("export")(export)
