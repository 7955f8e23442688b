"""One compressed layer against its dense original, timed inside the library: shared by the
compressed-layer benchmarks (compressed_linear.py, compressed_conv.py)."""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import swiftlet  # noqa: E402
from side_by_side import alternate  # noqa: E402


def dense_and_compressed_seconds(dense, compressed_path: str, feeds: dict, threads: int, runs: int) -> tuple[float, float]:
    """Medians of the `dense` session's and the compressed model's run times, alternating.

    What is timed must compute the layer: the compressed model's output is first checked against
    the reference backend's for the same file. Each run's time is the library's own (its
    RunReport's wall time, inputs checked to outputs written): the same for both, and free of the
    Python call around it."""
    compressed = swiftlet.Model(compressed_path).session("cpu", threads=threads)
    output = next(iter(compressed.run(feeds)))
    reference = swiftlet.Model(compressed_path).session("reference", threads=1).run(feeds)[output]
    np.testing.assert_allclose(compressed.run(feeds)[output], reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())
    return alternate(lambda: dense.run(feeds, report=True)[1].wall_time_ms / 1e3,
                     lambda: compressed.run(feeds, report=True)[1].wall_time_ms / 1e3, runs, self_timed=True)
