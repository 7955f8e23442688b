"""Pattern-sparse 3×3 convolutions (`swiftlet compress --prune pattern`) against the dense fp32
convolution (im2col + OpenBLAS sgemm), side by side. ResNet-18's 3×3 shapes at batch 1 as
one-node models, each pair timed in one process alternating (bench/side_by_side.py), same thread
count, each run timed inside the library (its RunReport's wall time). Sparsity 5/9 is the
patterns alone (4 of 9 taps per kernel); higher adds connectivity pruning (whole kernels).
Prints speedup = dense time / pattern-sparse time.

    SWIFTLET_LIB=build/prefix/lib/libswiftlet.so.1 .venv/bin/python bench/compressed_conv.py --runs 20
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import swiftlet  # noqa: E402
from swiftlet import swl  # noqa: E402
from compressed_timing import dense_and_compressed_seconds  # noqa: E402

# (input channels, output channels, input side, stride): ResNet-18's 3×3 convolutions.
SHAPES = [(64, 64, 56, 1), (64, 128, 56, 2), (128, 128, 28, 1), (256, 256, 14, 1), (512, 512, 7, 1)]
SPARSITIES = [5 / 9, 0.8, 0.9]
CLI = os.environ.get("SWIFTLET_CLI", os.path.join(os.path.dirname(__file__), "..", ".build", "release", "swiftlet"))


def dense_model(path: str, c: int, m: int, side: int, stride: int, rng: np.random.Generator) -> None:
    out = (side + 2 - 3) // stride + 1
    swl.write_model(
        path,
        inputs=[swl.value_info("x", "F32", [1, c, side, side])],
        outputs=[swl.value_info("y", "F32", [1, m, out, out])],
        nodes=[swl.node("Conv", ["x", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1], strides=[stride, stride])],
        tensors={"w": (rng.standard_normal((m, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32),
                 "b": rng.standard_normal(m).astype(np.float32)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, {args.runs} timed runs each, medians; speedup = dense / pattern-sparse")
    print("| C→M | side | stride | sparsity | dense ms | pattern ms | speedup |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for c, m, side, stride in SHAPES:
            dense_path, sparse_path = os.path.join(folder, "dense.swl"), os.path.join(folder, "sparse.swl")
            dense_model(dense_path, c, m, side, stride, rng)
            x = {"x": rng.standard_normal((1, c, side, side)).astype(np.float32)}
            dense = swiftlet.Model(dense_path).session("cpu", threads=args.threads)
            for sparsity in SPARSITIES:
                subprocess.run([CLI, "compress", dense_path, sparse_path, "--prune", "pattern", "--sparsity", str(sparsity)],
                               check=True, stdout=subprocess.DEVNULL)
                t_dense, t_sparse = dense_and_compressed_seconds(dense, sparse_path, x, args.threads, args.runs)
                print(f"| {c}→{m} | {side} | {stride} | {sparsity:.3f} | {t_dense * 1e3:.3f} | {t_sparse * 1e3:.3f} | "
                      f"{t_dense / t_sparse:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
