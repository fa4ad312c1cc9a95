"""The PyTorch baseline of `postroom bench serve`, run in its own process (serving never imports torch).

Measures a registry version as setfit predicts: the sentence-transformers body encodes (once per body, all
label sets share it), the sklearn heads' `predict_proba` follow. Reports single-message latency, batch
throughput and every text's predicted classes (for the agreement of the ONNX variants). With `--worker` it
measures batch throughput on request instead, one round per line read (`serve_rounds`), so that the benchmark
can measure PyTorch and the served variant in turn over the same minutes of the host.

    python -m training.export.bench_torch --version-dir var/models/v0001 --texts t.jsonl --out r.json
    python -m training.export.bench_torch --version-dir var/models/v0001 --texts t.jsonl --worker
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from postroom.latency import percentiles, time_batch


def measure(
    predict: Any, items: list[str], single: int, throughput_n: int, batch_size: int, rounds: int
) -> dict[str, Any]:
    """Single-message latency and batch throughput, `rounds` times; the best round of each (least disturbed
    by other jobs on a shared machine). Mirrors `serving.bench.measure` (neither may import the other)."""
    best_single: dict[str, Any] | None = None
    best_batch: dict[str, Any] | None = None
    batch_items = items[:throughput_n]
    for _ in range(rounds):
        latencies = []
        for text in items[:single]:
            started = time.perf_counter()
            predict([text])
            latencies.append(time.perf_counter() - started)
        stats = {"n": len(latencies), **percentiles(latencies)}
        if best_single is None or stats["p50_ms"] < best_single["p50_ms"]:
            best_single = stats
        batch = {"n": len(batch_items), "batch_size": batch_size, **time_batch(predict, batch_items)}
        if best_batch is None or batch["per_second"] > best_batch["per_second"]:
            best_batch = batch
    return {"single": best_single, "batch": best_batch, "rounds": rounds}


def load(
    version_dir: Path, batch_size: int, threads: int, device: str = "cpu"
) -> tuple[Callable[[list[str]], dict[str, np.ndarray]], Any, str]:
    """(predict, the version's bundle, torch's version): setfit's prediction for a version, warmed up.

    Raises `SystemExit` with a reason when `device` is cuda and PyTorch sees no CUDA device."""
    from postroom.offline import force_offline

    force_offline()
    import torch
    from sentence_transformers import SentenceTransformer

    from training.export.bundle import bundle_from_version
    from training.registry import ModelVersion, read_manifest

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"PyTorch {torch.__version__} sees no CUDA device: the GPU baseline cannot run")
    torch.set_num_threads(threads)
    bundle = bundle_from_version(ModelVersion(version_dir, read_manifest(version_dir)))
    bodies = {}
    for key, spec in bundle.bodies.items():
        body = SentenceTransformer(str(spec.path), device=device)
        body.max_seq_length = spec.max_seq_length
        bodies[key] = body

    def predict(batch: list[str]) -> dict[str, np.ndarray]:
        embeddings = {
            k: b.encode(batch, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
            for k, b in bodies.items()
        }
        return {n: h.probabilities(embeddings[h.body]) for n, h in bundle.heads.items()}

    predict(["warm up"] * 4)
    return predict, bundle, torch.__version__


def run(
    version_dir: Path,
    texts: dict[str, list[str]],
    single: int,
    batch_size: int,
    threads: int,
    throughput_n: int = 960,
    rounds: int = 3,
    device: str = "cpu",
) -> dict[str, Any]:
    """Raises `SystemExit` with a reason when `device` is cuda and PyTorch sees no CUDA device."""
    predict, bundle, torch_version = load(version_dir, batch_size, threads, device)
    result: dict[str, Any] = {
        "backend": "torch",
        "threads": threads,
        "device": device,
        "torch": torch_version,
        "sets": {},
        "labels": {},
    }
    for name, items in texts.items():
        probabilities = predict(items)  # every text once, for the agreement
        result["sets"][name] = measure(predict, items, single, throughput_n, batch_size, rounds)
        result["labels"][name] = {
            set_name: [bundle.heads[set_name].classes[i] for i in matrix.argmax(axis=1)]
            for set_name, matrix in probabilities.items()
        }
    return result


def serve_rounds(
    predict: Callable[[list[str]], Any],
    texts: dict[str, list[str]],
    throughput_n: int,
    commands: IO[str],
    answers: IO[str],
) -> None:
    """One batch-throughput round per line of `commands` (`{"set": name}`), each answered with one JSON line
    on `answers` (`{"set", "per_second", "seconds"}`, or `{"error"}` for a set it does not have); first
    `{"ready": true}`. Ends when `commands` does."""

    def answer(value: dict[str, Any]) -> None:
        answers.write(json.dumps(value) + "\n")
        answers.flush()

    answer({"ready": True})
    for line in commands:
        name = json.loads(line).get("set")
        if name not in texts:
            answer({"error": f"no text set {name!r}"})
            continue
        answer({"set": name, **time_batch(predict, texts[name][:throughput_n])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version-dir", type=Path, required=True)
    parser.add_argument("--texts", type=Path, required=True, help="JSON: {set name: [texts]}")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", type=Path, help="where the measurements go")
    what.add_argument(
        "--worker", action="store_true", help="throughput rounds on request (stdin); answers on stdout"
    )
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--throughput-n", type=int, default=960)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    if args.worker:
        # Answers alone on stdout: whatever the libraries print (from Python or C) goes to stderr.
        answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr
        predict, _bundle, _version = load(args.version_dir, args.batch_size, args.threads, args.device)
        serve_rounds(predict, texts, args.throughput_n, sys.stdin, answers)
        return
    result = run(
        args.version_dir,
        texts,
        args.single,
        args.batch_size,
        args.threads,
        args.throughput_n,
        args.rounds,
        args.device,
    )
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
