"""Swiftlet vs onnxruntime on ResNet-18 and MobileNetV2 (tools/torchnets/vision.py: torchvision's
architectures in plain PyTorch; random weights, BatchNorm statistics randomized so folding
matters), exported by torch's legacy ONNX exporter, side by side in one process.

    make setup && .venv/bin/python bench/cnn_vs_onnxruntime.py [--runs 20]

Checks agreement first (max |Δ| / max |logit|), then for threads 1 and 2 at batch 1, 224×224:
--runs timed runs of each in alternating blocks (bench/side_by_side.py: why blocks),
perf_counter around each Python run() call. Prints medians and the ratio
Swiftlet / onnxruntime (< 1: Swiftlet faster).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # side_by_side
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tools"))
import swiftlet  # noqa: E402
from side_by_side import alternate  # noqa: E402
from torchnets import export, vision  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, build in (("resnet18", vision.resnet18), ("mobilenet_v2", vision.mobilenet_v2)):
            path = pathlib.Path(folder) / f"{name}.onnx"
            export.export(build(), (vision.example_input(1),), path, ["input"], "logits", export.IMAGE_AXES, dynamo=False)
            for threads in (1, 2):
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                reference = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                with swiftlet.Model(path) as model, model.session(threads=threads) as session:
                    expected = reference.run(None, {"input": x})[0]
                    got = session.run({"input": x})["logits"]
                    error = float(np.abs(got - expected).max() / np.abs(expected).max())
                    assert error < 1e-4, f"{name}: Swiftlet and onnxruntime disagree ({error:.3g})"
                    ours, theirs = alternate(lambda: session.run({"input": x}), lambda: reference.run(None, {"input": x}),
                                             args.runs)
                rows.append((name, threads, error, ours * 1e3, theirs * 1e3))
                print(f"{name} threads={threads} done", file=sys.stderr)
    print(f"Swiftlet {swiftlet.version()}, onnxruntime {ort.__version__}, torch {torch.__version__}; "
          f"batch 1, 224x224, {args.runs} alternating runs, medians\n")
    print("| model | threads | max rel. error | Swiftlet ms | onnxruntime ms | Swiftlet / ORT |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, threads, error, ours, theirs in rows:
        print(f"| {name} | {threads} | {error:.1e} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
