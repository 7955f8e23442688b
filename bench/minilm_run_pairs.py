"""Swiftlet and onnxruntime on MiniLM-L6 one run each in turn, every pair's times printed: shows
whether a slow stretch of the machine (another tenant's load; it comes and goes over seconds)
hits both runtimes alike, which medians over blocks (minilm_vs_onnxruntime.py) cannot show.

    .venv/bin/python bench/minilm_run_pairs.py [--batch 1] [--seq 256] [--threads 1] [--runs 50]

Prints "ours/theirs" ms per pair, then both medians, their ratio and the median of the per-pair
ratios. Same model, inputs and onnxruntime settings as minilm_vs_onnxruntime.py.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from minilm_vs_onnxruntime import MODEL, feeds, ort_session, swiftlet


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    inputs = feeds(args.batch, args.seq)
    reference = ort_session(args.threads)
    with swiftlet.Model(MODEL) as model, model.session(threads=args.threads) as session:
        pairs = [(timed(lambda: session.run(inputs)), timed(lambda: reference.run(None, inputs)))
                 for _ in range(5 + args.runs)][5:]  # the first 5: warm-up
    ours, theirs = (np.array(times) * 1e3 for times in zip(*pairs))
    print(" ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(ours, theirs)))
    print(f"medians: Swiftlet {np.median(ours):.1f} ms, onnxruntime {np.median(theirs):.1f} ms, "
          f"ratio {np.median(ours) / np.median(theirs):.2f}; median per-pair ratio {np.median(ours / theirs):.2f}")


if __name__ == "__main__":
    main()
