"""End-to-end speed of compressed all-MiniLM-L6-v2 (issue 4): Swiftlet's 80% block-sparse and int8
models against Swiftlet's dense fp32 model and against onnxruntime's dynamic-int8 model of the
same ONNX file, batch 1, sequence 128, 1 and 2 threads.

    .venv/bin/python tools/export_minilm.py          # build/minilm/minilm.onnx
    .venv/bin/python bench/minilm_compressed_speed.py [--runs 20]

Models: `swiftlet compress minilm.onnx --prune block:4x4 --sparsity 0.8` (magnitude pruning, no
fine-tuning: this measures speed, not accuracy) and `--quantize int8`; onnxruntime's is
onnxruntime.quantization.quantize_dynamic(per_channel=True, QInt8), run with ORT_ENABLE_ALL.
Each pair alternates blocks of runs in this one process (bench/side_by_side.py); medians.
"""
from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import swiftlet  # noqa: E402
from minilm_vs_onnxruntime import MODEL, feeds  # noqa: E402
from side_by_side import alternate  # noqa: E402

CLI = ROOT / ".build" / "release" / "swiftlet"


def ort_session(path: pathlib.Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not MODEL.exists():
        raise SystemExit(f"{MODEL} is missing: run tools/export_minilm.py first")
    inputs = feeds(1, 128)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sparse, int8 = pathlib.Path(folder) / "sparse.swl", pathlib.Path(folder) / "int8.swl"
        subprocess.run([str(CLI), "compress", str(MODEL), str(sparse), "--prune", "block:4x4", "--sparsity", "0.8"],
                       check=True, capture_output=True)
        subprocess.run([str(CLI), "compress", str(MODEL), str(int8), "--quantize", "int8"], check=True, capture_output=True)
        from onnxruntime.quantization import QuantType, quantize_dynamic
        ort_int8 = pathlib.Path(folder) / "ort-int8.onnx"
        quantize_dynamic(str(MODEL), str(ort_int8), per_channel=True, weight_type=QuantType.QInt8)
        for threads in (1, 2):
            theirs = ort_session(ort_int8, threads)
            with swiftlet.Model(str(MODEL)) as d, d.session(threads=threads) as dense, \
                    swiftlet.Model(str(sparse)) as s, s.session(threads=threads) as bsr, \
                    swiftlet.Model(str(int8)) as q, q.session(threads=threads) as quantized:
                dense_ms, bsr_ms = (t * 1e3 for t in alternate(lambda: dense.run(inputs), lambda: bsr.run(inputs), args.runs))
                bsr2_ms, ort_ms = (t * 1e3 for t in alternate(lambda: bsr.run(inputs), lambda: theirs.run(None, inputs), args.runs))
                int8_ms, ort2_ms = (t * 1e3 for t in alternate(lambda: quantized.run(inputs), lambda: theirs.run(None, inputs), args.runs))
            rows.append((threads, dense_ms, bsr_ms, bsr2_ms, ort_ms, int8_ms, ort2_ms))
            print(f"threads={threads} done", file=sys.stderr)
    print(f"Swiftlet {swiftlet.version()}, onnxruntime {ort.__version__}; b1 s128, {args.runs} alternating runs per pair, medians\n")
    print("| threads | dense fp32 ms | BSR 4×4 80% ms | dense / BSR | BSR ms | ORT dynamic int8 ms | BSR / ORT int8 | Swiftlet int8 ms | ORT int8 ms | int8 / ORT int8 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for threads, dense_ms, bsr_ms, bsr2_ms, ort_ms, int8_ms, ort2_ms in rows:
        print(f"| {threads} | {dense_ms:.1f} | {bsr_ms:.1f} | {dense_ms / bsr_ms:.2f}× | {bsr2_ms:.1f} | {ort_ms:.1f} | {bsr2_ms / ort_ms:.2f} "
              f"| {int8_ms:.1f} | {ort2_ms:.1f} | {int8_ms / ort2_ms:.2f} |")


if __name__ == "__main__":
    main()
