"""Benchmark of the cleaner on public fixtures, side by side with the libraries it was compared with.

Fixture groups and what each is compared on (the fixtures test different things):

* talon quote fixtures (HTML and .eml): talon's own tests compare the reply *with* its signature
  (``extract_from_plain`` / ``extract_from_html``), so these are compared with the quote stage's output
  (`CleaningTrace.unquoted`, "the reply before signature removal"); the final text is reported too.
* talon signature fixtures: body with signature; the expected reply is the body minus the signature
  (talon's "#sig#" line markers are stripped before cleaning).
* email_reply_parser fixtures (GitHub and Zapier): ``parse_reply`` output (quotes and signatures removed).
* Quagga (Enron annotated lines; Enron + Apache annotated spans): the newest message without its
  signature; line-level precision/recall/F1 of the kept (non-empty) lines.

Metrics: exact match after whitespace normalisation; micro-averaged line P/R/F1 of kept lines (a system's
output lines are aligned to the raw lines with difflib, the same way for every system); signature
removal (no line of the expected signature kept) and signature removal with the reply intact.
Libraries get the same text body that Postroom's MIME/HTML stage extracts, except talon on HTML, which
uses its own ``extract_from_html``.
"""

from __future__ import annotations

import difflib
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from postroom.cleaning.language import LANGUAGES, detect_language
from postroom.cleaning.pipeline import clean_with_trace, extract_body
from postroom.machine import describe, one_line

FORMATS = {"plain": "text", "html": "html", "eml": "rfc822"}
GROUPS = (
    "talon: quote fixtures",
    "talon: signature fixtures",
    "email_reply_parser (github)",
    "email_reply_parser (zapier)",
    "Quagga: Enron annotated lines",
    "Quagga: annotated spans (Enron + ASF)",
)
LINE_GROUPS = ("Quagga: Enron annotated lines", "Quagga: annotated spans (Enron + ASF)")
F1_GOAL = 0.97
NOTES = [
    "talon 1.4.4 installs on Python 3.11 and its quote extraction runs, but its ML signature classifier "
    "does not load (it imports sklearn.externals.joblib, removed from scikit-learn): talon's rule-based "
    "talon.signature.bruteforce.extract_signature is used instead.",
    "mail-parser-reply 1.36 has no Finnish patterns; it runs with languages=['en', 'de'].",
    "quotequail 0.5.4 keeps the attribution line ('On ... wrote:') in the reply part by design, so it never "
    "matches exactly; its line figures are still comparable.",
    "Libraries get the text body that Postroom's MIME/HTML stage extracts (talon on HTML uses its own "
    "extract_from_html); the line metric aligns every system's output to the raw lines the same way.",
    "Quagga span set: where an e-mail starts with a forwarded header, its 'first Body span' is the forwarded "
    "text, and many ASF bodies are annotated as one span including the quoted history; the Enron line set is "
    "the cleaner reference (it labels such e-mails as having no own text).",
]


@dataclass
class Case:
    """One fixture prepared for evaluation."""

    id: str
    group: str
    fmt: str
    raw: str
    expected: str | None  # expected text on the compared stage
    compare_quote_stage: bool
    gold_keep: list[bool] | None = None  # per raw line (non-empty lines only are counted)
    gold_signature: list[bool] | None = None


@dataclass
class Output:
    text: str  # final text
    quote_stage: str  # reply before signature removal (same as text for libraries without the split)


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def _group(record: dict[str, Any]) -> str:
    source = record["source"]
    if source == "mailgun/talon":
        return (
            "talon: signature fixtures" if record["id"].startswith("talon-sig-") else "talon: quote fixtures"
        )
    if source == "github/email_reply_parser":
        return "email_reply_parser (github)"
    if source == "zapier/email-reply-parser":
        return "email_reply_parser (zapier)"
    if "line_labels" in record:
        return "Quagga: Enron annotated lines"
    return "Quagga: annotated spans (Enron + ASF)"


def _line_offsets(raw: str) -> list[tuple[int, str]]:
    offsets = []
    pos = 0
    for line in raw.split("\n"):
        offsets.append((pos, line))
        pos += len(line) + 1
    return offsets


def _gold_from_spans(record: dict[str, Any]) -> tuple[list[bool], list[bool]]:
    lines = _line_offsets(record["raw"])
    spans = record["spans"]
    bodies = sorted((s for s in spans if s["type"] == "Body"), key=lambda s: s["start"])
    keep = [False] * len(lines)
    sig = [False] * len(lines)
    if not bodies or not record.get("expected_reply"):
        return keep, sig
    first = bodies[0]
    sig_spans = [
        s
        for s in spans
        if s["type"].startswith("Body/Signature") and first["start"] <= s["start"] < first["end"]
    ]
    for i, (start, line) in enumerate(lines):
        if not line.strip():
            continue
        end = start + len(line)
        inside = start < first["end"] and end > first["start"]
        in_sig = any(
            start < s["end"] and end > s["start"] for s in sig_spans if s["type"] == "Body/Signature"
        )
        keep[i] = inside and not in_sig
        sig[i] = inside and in_sig
    return keep, sig


def _gold_from_lines(record: dict[str, Any]) -> tuple[list[bool], list[bool]]:
    labels = record["line_labels"]
    keep = [False] * len(labels)
    sig = [False] * len(labels)
    for i, label in enumerate(labels):
        if label == "H":
            break
        keep[i] = label == "B"
        sig[i] = label == "S"
    return keep, sig


def load_cases(fixtures: Path) -> list[Case]:
    """Read the fixture file (JSONL) into evaluation cases."""
    cases = []
    with fixtures.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            group = _group(record)
            fmt = FORMATS.get(record["format"], "text")
            raw = record["raw"]
            expected = record.get("expected_reply")
            case = Case(record["id"], group, fmt, raw, expected, group == "talon: quote fixtures")
            if group == "talon: signature fixtures":
                raw = raw.replace("#sig#", "")
                signature = (record.get("expected_signature") or "").replace("#sig#", "")
                body = raw.rstrip()
                if signature and body.endswith(signature.rstrip()):
                    body = body[: len(body) - len(signature.rstrip())]
                case.raw = raw
                case.expected = body
                n = len(raw.split("\n"))
                n_body = len(body.rstrip().split("\n")) if body.strip() else 0
                case.gold_keep = [i < n_body for i in range(n)]
                case.gold_signature = [i >= n_body and bool(signature) for i in range(n)]
            elif group == LINE_GROUPS[0]:
                case.gold_keep, case.gold_signature = _gold_from_lines(record)
            elif group == LINE_GROUPS[1]:
                case.gold_keep, case.gold_signature = _gold_from_spans(record)
            cases.append(case)
    return cases


# --- systems ---------------------------------------------------------------------------------------
def _postroom(case: Case) -> Output:
    trace = clean_with_trace(case.raw, case.fmt)  # type: ignore[arg-type]
    return Output(trace.cleaned.text, trace.unquoted)


def _plain_body(case: Case) -> str:
    """The text body as Postroom's MIME/HTML stage extracts it (what the text-only libraries get)."""
    return extract_body(case.raw, case.fmt, [])[0].replace("\r\n", "\n")


def _email_reply_parser() -> Callable[[Case], Output]:
    from email_reply_parser import EmailReplyParser

    def run(case: Case) -> Output:
        text = EmailReplyParser.parse_reply(_plain_body(case)) or ""
        return Output(text, text)

    return run


def _mail_parser_reply() -> Callable[[Case], Output]:
    from mailparser_reply import EmailReplyParser

    parser = EmailReplyParser(languages=["en", "de"])  # no Finnish in mail-parser-reply 1.36

    def run(case: Case) -> Output:
        message = parser.read(_plain_body(case))
        if not message.replies:
            return Output("", "")
        reply = message.replies[0]
        return Output(reply.body, reply.full_body)

    return run


def _talon() -> Callable[[Case], Output]:
    from talon import quotations
    from talon.signature.bruteforce import extract_signature
    from talon.utils import html_to_text as talon_html_to_text

    def run(case: Case) -> Output:
        if case.fmt == "html":
            reply_html = quotations.extract_from_html(case.raw)
            reply = talon_html_to_text(reply_html) or b""
            reply = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        else:
            reply = quotations.extract_from_plain(_plain_body(case))
        text, _signature = extract_signature(reply)
        return Output(text or "", reply)

    return run


def _quotequail() -> Callable[[Case], Output]:
    import quotequail

    def run(case: Case) -> Output:
        parts = quotequail.quote(_plain_body(case))
        text = "\n".join(part for is_reply, part in parts if is_reply)
        return Output(text, text)

    return run


def _systems() -> tuple[dict[str, Callable[[Case], Output]], dict[str, str]]:
    """Postroom plus every candidate library that imports; the rest are reported as unavailable."""
    systems: dict[str, Callable[[Case], Output]] = {"postroom": _postroom}
    unavailable: dict[str, str] = {}
    for name, factory, dist in (
        ("email-reply-parser", _email_reply_parser, "email-reply-parser"),
        ("mail-parser-reply", _mail_parser_reply, "mail-parser-reply"),
        ("talon", _talon, "talon"),
        ("quotequail", _quotequail, "quotequail"),
    ):
        try:
            systems[f"{name} {importlib_metadata.version(dist)}"] = factory()
        except Exception as exc:  # not installed, or does not import on this Python
            unavailable[name] = f"{type(exc).__name__}: {exc}"[:200]
    return systems, unavailable


# --- metrics ---------------------------------------------------------------------------------------
def _kept_lines(raw: str, output: str) -> list[bool]:
    """Which raw lines appear in `output`, aligned in order (whitespace-insensitive, non-empty lines)."""
    raw_lines = raw.replace("\r\n", "\n").split("\n")
    raw_index = [i for i, line in enumerate(raw_lines) if _norm(line).lstrip("> ")]
    a = [_norm(raw_lines[i]).lstrip("> ") for i in raw_index]
    b = [_norm(line).lstrip("> ") for line in output.split("\n") if line.strip()]
    kept = [False] * len(raw_lines)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            kept[raw_index[block.a + k]] = True
    return kept


def _evaluate(cases: list[Case], name: str, system: Callable[[Case], Output]) -> dict[str, Any]:
    per_group: dict[str, dict[str, Any]] = {}
    failures: dict[str, list[str]] = {}
    for group in GROUPS:
        members = [c for c in cases if c.group == group]
        if not members:
            continue
        exact = exact_n = 0
        exact_final = 0
        tp = fp = fn = tn = 0
        sig_n = sig_removed = sig_intact = 0
        errors = 0
        started = time.perf_counter()
        for case in members:
            try:
                out = system(case)
            except Exception:
                errors += 1
                out = Output("", "")
            compared = out.quote_stage if case.compare_quote_stage else out.text
            if case.expected is not None:
                exact_n += 1
                if _norm(compared) == _norm(case.expected):
                    exact += 1
                else:
                    failures.setdefault(group, []).append(case.id)
                exact_final += _norm(out.text) == _norm(case.expected)
            if case.gold_keep is not None:
                kept = _kept_lines(case.raw, out.text)
                raw_lines = case.raw.replace("\r\n", "\n").split("\n")
                for i, line in enumerate(raw_lines):
                    if not _norm(line).lstrip("> ") or i >= len(case.gold_keep):
                        continue
                    gold, pred = case.gold_keep[i], kept[i]
                    tp += gold and pred
                    fp += pred and not gold
                    fn += gold and not pred
                    tn += not gold and not pred
                if case.gold_signature is not None and any(case.gold_signature):
                    sig_n += 1
                    removed = not any(k and s for k, s in zip(kept, case.gold_signature, strict=False))
                    sig_removed += removed
                    intact = all(
                        k
                        for k, g, line in zip(kept, case.gold_keep, raw_lines, strict=False)
                        if g and _norm(line).lstrip("> ")
                    )
                    sig_intact += removed and intact
        seconds = time.perf_counter() - started
        stats: dict[str, Any] = {"records": len(members), "errors": errors, "seconds": round(seconds, 3)}
        if exact_n:
            stats["exact_match"] = {"n": exact_n, "matched": exact, "rate": round(exact / exact_n, 4)}
            if any(c.compare_quote_stage for c in members):
                stats["exact_match_final_text"] = {
                    "matched": exact_final,
                    "rate": round(exact_final / exact_n, 4),
                }
        if tp + fp + fn:
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            stats["lines"] = {
                "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                "accuracy": round((tp + tn) / (tp + fp + fn + tn), 4),
            }  # fmt: skip
        if sig_n:
            stats["signature"] = {
                "n": sig_n,
                "removed": round(sig_removed / sig_n, 4),
                "removed_reply_intact": round(sig_intact / sig_n, 4),
            }
        per_group[group] = stats
    return {"groups": per_group, "failures": {g: ids[:50] for g, ids in failures.items()}}


def evaluate_postroom(fixtures: Path) -> dict[str, Any]:
    """Postroom's figures per fixture group (no libraries, no timing): what the tests assert on."""
    return _evaluate(load_cases(Path(fixtures)), "postroom", _postroom)


def _closing_variant(cases: list[Case]) -> dict[str, Any]:
    """Line metrics on the Quagga line set if the closing (sign-off + name) were removed as well."""

    def run(case: Case) -> Output:
        trace = clean_with_trace(case.raw, case.fmt)  # type: ignore[arg-type]
        return Output(trace.text_without_closing, trace.text_without_closing)

    subset = [c for c in cases if c.group in LINE_GROUPS]
    return _evaluate(subset, "postroom-without-closing", run)["groups"]


def _timing_10mb(repeats: int = 3) -> dict[str, Any]:
    """Seconds to clean a 10 MB HTML e-mail (a realistic reply followed by 10 MB of table rows)."""
    head = (
        "<html><head><style>p{color:red}</style></head><body>"
        "<p>Hallo,</p><p>bitte sperren Sie meine Karte.</p>"
    )
    row = "<tr><td class='x'>Zeile</td><td><a href='https://t.example/track?id=1'>Link</a></td></tr>\n"
    html = head + "<table>" + row * (10_000_000 // len(row)) + "</table></body></html>"
    clean_with_trace("warm-up", "text")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        clean_with_trace(html, "html")
        times.append(time.perf_counter() - started)
    return {
        "bytes": len(html.encode()),
        "seconds_median": round(statistics.median(times), 3),
        "repeats": repeats,
    }


def _language_accuracy(
    massive_dir: Path, extra: list[tuple[str, str]], fixtures: Path | None = None
) -> dict[str, Any]:
    """Accuracy of `detect_language` on MASSIVE de/en test utterances, the English fixture replies and the
    multilingual test e-mails; the unrestricted py3langid model on MASSIVE for comparison."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    unrestricted = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    results: dict[str, Any] = {"languages_considered": list(LANGUAGES)}
    for lang in ("de", "en"):
        path = massive_dir / f"massive_{lang}_test.jsonl"
        if not path.exists():
            continue
        rows = [json.loads(line) for line in path.open(encoding="utf-8")]
        predictions = [detect_language(r["text"]) for r in rows]
        results[f"massive_{lang}_test"] = {
            "n": len(rows),
            "accuracy": round(sum(p == lang for p in predictions) / len(rows), 4),
            "undetermined": round(sum(p is None for p in predictions) / len(rows), 4),
            "accuracy_unrestricted_py3langid": round(
                sum(unrestricted.classify(r["text"])[0] == lang for r in rows) / len(rows), 4
            ),
        }
    if fixtures is not None and fixtures.exists():
        hits = []
        with fixtures.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                reply = record.get("expected_reply") or ""
                if record.get("language") == "en" and sum(ch.isalpha() for ch in reply) >= 20:
                    hits.append(detect_language(reply) == "en")
        if hits:
            results["fixture_replies_en"] = {"n": len(hits), "accuracy": round(sum(hits) / len(hits), 4)}
    by_lang: dict[str, list[bool]] = {}
    for text, lang in extra:
        by_lang.setdefault(lang, []).append(detect_language(text) == lang)
    for lang, hits in sorted(by_lang.items()):
        results[f"test_emails_{lang}"] = {"n": len(hits), "accuracy": round(sum(hits) / len(hits), 4)}
    return results


def _multilingual_cases(repo_root: Path) -> list[tuple[str, str]]:
    """(cleaned text, language) of the hand-written German/Finnish test e-mails, if the tests are present."""
    path = repo_root / "tests" / "cleaning" / "multilingual_cases.yaml"
    if not path.exists():
        return []
    import yaml

    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for case in cases:
        text = clean_with_trace(case["raw"], case.get("format", "text")).cleaned.text
        if text:
            out.append((text, case["language"]))
    return out


def _display_path(path: Path) -> str:
    """The path relative to the working directory when that is short (no home or machine paths in reports)."""
    try:
        relative = os.path.relpath(path.resolve())
    except ValueError:
        return str(path)
    return relative if len(relative) < len(str(path.resolve())) else str(path)


def _machine() -> str:
    return f"{platform.platform()}, Python {platform.python_version()}, {one_line(describe())}"


def run_clean_benchmark(fixtures: Path, out_dir: Path, command: str) -> dict[str, Any]:
    """Evaluate clean_message on the fixtures; write out_dir/clean.json and out_dir/clean.md (with the machine
    description, the date, and `command` that produced them); return the JSON dict."""
    fixtures = Path(fixtures)
    cases = load_cases(fixtures)
    systems, unavailable = _systems()
    results: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # talon's html5lib warns on every Outlook tag
        for name, system in systems.items():
            results[name] = _evaluate(cases, name, system)
    repo_root = Path(__file__).resolve().parents[2]
    report: dict[str, Any] = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "fixtures": _display_path(fixtures),
        "records": len(cases),
        "goal": {"quagga_line_f1": F1_GOAL, "talon_erp_expected_replies": "all"},
        "systems": results,
        "unavailable": unavailable,
        "notes": NOTES,
        "postroom_without_closing": _closing_variant(cases),
        "timing_10mb_html": _timing_10mb(),
        "language": _language_accuracy(
            fixtures.parent.parent / "massive", _multilingual_cases(repo_root), fixtures
        ),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "clean.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out_dir / "clean.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report."""
    out = [
        "# Cleaning benchmark",
        "",
        f"- Command: `{report['command']}`",
        f"- Date: {report['date']}",
        f"- Machine: {report['machine']}",
        f"- Fixtures: `{report['fixtures']}` ({report['records']} records)",
        f"- Goal: line F1 ≥ {F1_GOAL} on the Quagga Enron annotated lines; every talon / email_reply_parser "
        "expected reply reproduced.",
        "",
        "Exact = exact match after whitespace normalisation (talon quote fixtures: the reply before",
        "signature removal, as talon's own tests compare; 'final' is the cleaned text). Lines = micro",
        "P/R/F1 of kept non-empty lines. Signature = share of e-mails with a signature where no signature",
        "line was kept (and, second figure, with every reply line kept as well).",
        "",
    ]
    for group in GROUPS:
        rows = []
        for name, result in report["systems"].items():
            stats = result["groups"].get(group)
            if stats is None:
                continue
            exact = stats.get("exact_match")
            lines = stats.get("lines")
            sig = stats.get("signature")
            final = stats.get("exact_match_final_text")
            rows.append(
                "| "
                + " | ".join(
                    [
                        name,
                        f"{exact['matched']}/{exact['n']}" if exact else "–",
                        f"{final['matched']}/{exact['n']}" if final and exact else "–",
                        _fmt(lines["precision"]) if lines else "–",
                        _fmt(lines["recall"]) if lines else "–",
                        _fmt(lines["f1"]) if lines else "–",
                        f"{_fmt(sig['removed'])} / {_fmt(sig['removed_reply_intact'])} (n={sig['n']})"
                        if sig
                        else "–",
                        _fmt(stats["seconds"]),
                    ]
                )
                + " |"
            )
        if not rows:
            continue
        records = next(iter(report["systems"].values()))["groups"][group]["records"]
        out += [
            f"## {group} ({records} records)",
            "",
            "| system | exact | exact (final) | line P | line R | line F1 | signature | seconds |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    variant = report.get("postroom_without_closing") or {}
    if variant:
        out += ["## Postroom if the closing (sign-off + name) were removed too", ""]
        for group, stats in variant.items():
            if "lines" in stats:
                lines = stats["lines"]
                out.append(
                    f"- {group}: line P {lines['precision']:.3f}, R {lines['recall']:.3f}, "
                    f"F1 {lines['f1']:.3f}"
                )
        out.append("")
    if report.get("notes"):
        out += ["## Notes", ""]
        out += [f"- {note}" for note in report["notes"]]
        out.append("")
    if report.get("unavailable"):
        out += ["## Candidates that could not be run", ""]
        out += [f"- {name}: {why}" for name, why in report["unavailable"].items()]
        out.append("")
    timing = report.get("timing_10mb_html")
    if timing:
        out += [
            "## Speed",
            "",
            f"- Cleaning a {timing['bytes'] / 1e6:.1f} MB HTML e-mail: {timing['seconds_median']:.3f} s "
            f"(median of {timing['repeats']}).",
            "",
        ]
    language = report.get("language") or {}
    if language:
        out += ["## Language detection (py3langid, restricted to the listed languages)", ""]
        for key, value in language.items():
            if isinstance(value, dict):
                extra = f", undetermined {value['undetermined']:.3f}" if "undetermined" in value else ""
                if "accuracy_unrestricted_py3langid" in value:
                    extra += f"; unrestricted py3langid {value['accuracy_unrestricted_py3langid']:.3f}"
                out.append(f"- {key}: accuracy {value['accuracy']:.3f} (n={value['n']}{extra})")
        out.append("")
    return "\n".join(out)


def main() -> None:  # pragma: no cover - convenience for `python -m postroom.cleaning.benchmark`
    import sys

    repo = Path(__file__).resolve().parents[2]
    fixtures = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else repo.parent / "shared/data/email_cleaning/email_cleaning_fixtures.jsonl"
    )
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else repo / "docs" / "benchmarks"
    report = run_clean_benchmark(fixtures, out_dir, "python -m postroom.cleaning.benchmark")
    print(render_markdown(report))


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["evaluate_postroom", "load_cases", "render_markdown", "run_clean_benchmark"]
