"""Timing two runtimes side by side in one process, fairly on a small machine.

Runs alternate in blocks (A×block, B×block, A×block, …) and the first run of every block is
discarded: after a run, a runtime's worker threads keep spinning for a while (onnxruntime's
intra-op pool does by default; OpenBLAS's threads too), and on 2 cores that spinning slows the
other runtime's next run. Alternating single runs measured Swiftlet at 2 threads 4x slower
than `swiftlet bench` alone did (MiniLM b1 s16: 43 vs 7.4 ms). Blocks still share the machine's
drift between both runtimes.
"""
from __future__ import annotations

import gc
import time
from typing import Callable, Tuple

import numpy as np


def alternate(run_a: Callable[[], object], run_b: Callable[[], object], runs: int, block: int = 5,
              self_timed: bool = False) -> Tuple[float, float]:
    """Median seconds of `runs` timed calls of each, alternating blocks of `block` (+1 discarded).

    self_timed: each call returns the seconds it measured itself (e.g. a RunReport's wall time,
    taken inside the library), used instead of the clock around the call: for a product of a few
    microseconds, Python's own per-call cost would otherwise be most of what is measured."""
    times_a, times_b = [], []
    gc.disable()   # a collection landing inside one runtime's call would be charged to it
    try:
        while len(times_a) < runs:
            for run, times in ((run_a, times_a), (run_b, times_b)):
                run()  # settles the other runtime's threads; not timed
                for _ in range(block):
                    start = time.perf_counter()
                    measured = run()
                    times.append(measured if self_timed else time.perf_counter() - start)
    finally:
        gc.enable()
    return float(np.median(times_a[:runs])), float(np.median(times_b[:runs]))
