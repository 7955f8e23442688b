"""Timing two runtimes side by side in one process, fairly on a small machine.

Runs alternate in blocks (A×block, B×block, A×block, …), each block after a pause and with its
first run discarded: after a run, a runtime's worker threads keep spinning for a while
(onnxruntime's intra-op pool does by default, ~50 ms; OpenBLAS's threads too), and on 2 cores
that spinning slows the other runtime's next runs. Alternating single runs measured Swiftlet at 2 threads 4x slower
than `swiftlet bench` alone did (MiniLM b1 s16: 43 vs 7.4 ms). Blocks still share the machine's
drift between both runtimes.
"""
from __future__ import annotations

import gc
import pathlib
import subprocess
import sys
import time
from typing import Callable, Sequence, Tuple

import numpy as np


# onnxruntime's intra-op threads keep spinning ~50 ms after a run (a 2-thread MobileNetV2
# session's process used 48 ms of CPU in the 50 ms after a run and 46–60 ms in the 0.2–1 s
# after: time.process_time() around a sleep). Discarding one run did not cover that: a block of
# Swiftlet's short runs (MobileNetV2 or MiniLM s16 at 2 threads, ~5–8 ms each) ran entirely
# beside the spinning and lost the second core (12.0 ms against 7.0–7.7 alone). Swiftlet's
# workers spin 0.5 ms. A pause longer than either before each block keeps the blocks apart.
SETTLE_SECONDS = 0.15


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
                time.sleep(SETTLE_SECONDS)  # the other runtime's spinning threads go to sleep
                run()  # warms this runtime's threads and caches; not timed
                for _ in range(block):
                    start = time.perf_counter()
                    measured = run()
                    times.append(measured if self_timed else time.perf_counter() - start)
    finally:
        gc.enable()
    return float(np.median(times_a[:runs])), float(np.median(times_b[:runs]))


def open_to_ready(open_a: Callable[[], object], open_b: Callable[[], object], repeats: int = 5) -> Tuple[float, float]:
    """Median milliseconds each callable takes to open a model and finish its first run, in turn."""
    times_a, times_b = [], []
    for _ in range(repeats):
        for run, times in ((open_a, times_a), (open_b, times_b)):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return float(np.median(times_a)) * 1e3, float(np.median(times_b)) * 1e3


def peak_resident_mb() -> float:
    """This process's peak resident set (VmHWM) in MB. Not ru_maxrss: getrusage's maximum survives
    execve, so a child would report the parent's resident size at fork time."""
    status = pathlib.Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def child_peak_resident_mb(arguments: Sequence[str]) -> float:
    """Runs `python arguments…` in a fresh process and returns the last number it prints (its
    peak_resident_mb() after opening a model and running it once)."""
    out = subprocess.run([sys.executable, *arguments], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])
