"""Compressed linear layers against the dense fp32 layer (OpenBLAS sgemm), side by side.

MiniLM-L6's linear shapes (K→N: 384→384 for Q/K/V/O, 384→1536 and 1536→384 for the FFN) as
one-node models: the dense `Linear` and the same weights through `swiftlet compress` (int8,
BSR/CSR pruning, MX), each timed in one process alternating with the dense model
(bench/side_by_side.py), same thread count, each run timed inside the library (its RunReport's
wall time). Prints speedup = dense time / compressed time.

    SWIFTLET_LIB=build/prefix/lib/libswiftlet.so.1 .venv/bin/python bench/compressed_linear.py --runs 30
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

SHAPES = [(384, 384), (384, 1536), (1536, 384)]
# For the M = 1 (matrix-vector) cases also a weight too big for the 32 MB L3 (64 MB as fp32):
# MiniLM's matrices stay in cache, where decoding, not bytes, bounds the compressed kernels.
MEMORY_BOUND_SHAPE = (4096, 4096)
CLI = os.environ.get("SWIFTLET_CLI", os.path.join(os.path.dirname(__file__), "..", ".build", "release", "swiftlet"))

# (label, compress arguments, rows M): the targets
CASES = [
    ("int8", ["--quantize", "int8"], 128),
    ("BSR 4x4 80%", ["--prune", "block:4x4", "--sparsity", "0.8"], 128),
    ("BSR 4x4 90%", ["--prune", "block:4x4", "--sparsity", "0.9"], 128),
    ("BSR 1x4 80%", ["--prune", "block:1x4", "--sparsity", "0.8"], 128),
    ("BSR 1x4 90%", ["--prune", "block:1x4", "--sparsity", "0.9"], 128),
    ("CSR 90%", ["--prune", "unstructured", "--sparsity", "0.9"], 128),
    # RT3's hybrid runs on the CSR kernel: its speed follows the kept share, pattern by pattern.
    ("hybrid 4x4:8 80%", ["--prune", "hybrid:4x4:8", "--sparsity", "0.8"], 128),
    ("hybrid 4x4:4 90%", ["--prune", "hybrid:4x4:4", "--sparsity", "0.9"], 128),
    ("BSR 4x4 80% int8", ["--prune", "block:4x4", "--sparsity", "0.8", "--quantize", "int8"], 128),
    ("mxfp4 M=1", ["--quantize", "mxfp4"], 1),
    ("mxfp6-e2m3 M=1", ["--quantize", "mxfp6-e2m3"], 1),
    ("mxfp8-e4m3 M=1", ["--quantize", "mxfp8-e4m3"], 1),
    ("mxint8 M=1", ["--quantize", "mxint8"], 1),
]


def dense_model(path: str, k: int, n: int, rng: np.random.Generator) -> None:
    swl.write_model(
        path,
        inputs=[swl.value_info("x", "F32", ["m", k])],
        outputs=[swl.value_info("y", "F32", ["m", n])],
        nodes=[swl.node("Linear", ["x", "w", "b"], ["y"], name="fc")],
        tensors={"w": (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32),
                 "b": rng.standard_normal(n).astype(np.float32)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help="run the cases whose label contains this text")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, {args.runs} timed runs each, medians; speedup = dense / compressed")
    print(f"| case | K→N | M | dense ms | compressed ms | speedup |")
    print(f"|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for label, flags, m in CASES:
            if args.only and args.only not in label:
                continue
            for k, n in SHAPES + ([MEMORY_BOUND_SHAPE] if m == 1 else []):
                dense_path = os.path.join(folder, f"dense_{k}_{n}.swl")
                if not os.path.exists(dense_path):
                    dense_model(dense_path, k, n, rng)
                compressed_path = os.path.join(folder, "compressed.swl")
                subprocess.run([CLI, "compress", dense_path, compressed_path, *flags], check=True, stdout=subprocess.DEVNULL)
                x = {"x": rng.standard_normal((m, k)).astype(np.float32)}
                dense = swiftlet.Model(dense_path).session("cpu", threads=args.threads)
                t_dense, t_compressed = dense_and_compressed_seconds(dense, compressed_path, x, args.threads, args.runs)
                print(f"| {label} | {k}→{n} | {m} | {t_dense * 1e3:.3f} | {t_compressed * 1e3:.3f} | {t_dense / t_compressed:.2f}× |",
                      flush=True)


if __name__ == "__main__":
    main()
