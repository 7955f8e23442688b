"""Swiftlet vs onnxruntime on ResNet-18 and MobileNetV2 (tools/torchnets/vision.py: torchvision's
architectures in plain PyTorch; random weights, BatchNorm statistics randomized so folding
matters), exported by torch's legacy ONNX exporter, side by side in one process.

    make setup && .venv/bin/python bench/cnn_vs_onnxruntime.py [--runs 20]

Checks agreement first (max |Δ| / max |logit|), then for threads 1 and 2 at batch 1, 224×224:
--runs timed runs of each in alternating blocks (bench/side_by_side.py: why blocks),
perf_counter around each Python run() call. Prints medians and the ratio
Swiftlet / onnxruntime (< 1: Swiftlet faster). Also, per model and thread count, the median time
to open the model and be ready to run (load + session + first run), 5 times each, and per model
the peak resident memory: a fresh Python process per runtime (each imports numpy, onnxruntime
and swiftlet, not torch, so both start from the same baseline) opens the model and runs it once
on one thread; its VmHWM (peak resident set).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))  # side_by_side
import swiftlet  # noqa: E402
from side_by_side import alternate, child_peak_resident_mb, open_to_ready, peak_resident_mb  # noqa: E402


def image() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)


def ort_session(path: pathlib.Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def open_and_run(path: pathlib.Path, threads: int, runtime: str, x: np.ndarray) -> None:
    if runtime == "swiftlet":
        with swiftlet.Model(path) as model, model.session(threads=threads) as session:
            session.run({"input": x})
    else:
        ort_session(path, threads).run(None, {"input": x})


def export_models(folder: pathlib.Path):
    """(name, path) of each model, exported into `folder` (torch is imported here only, so the
    peak-memory children never load it)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from torchnets import export, vision

    for name, build in (("resnet18", vision.resnet18), ("mobilenet_v2", vision.mobilenet_v2)):
        path = folder / f"{name}.onnx"
        export.export(build(), (vision.example_input(1),), path, ["input"], "logits", export.IMAGE_AXES, dynamo=False)
        yield name, path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--peak-rss-child", nargs=2, metavar=("RUNTIME", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_rss_child:
        runtime, path = args.peak_rss_child
        open_and_run(pathlib.Path(path), 1, runtime, image())
        print(peak_resident_mb())
        return
    x = image()
    rows, ready, memory = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for name, path in export_models(pathlib.Path(folder)):
            for threads in (1, 2):
                reference = ort_session(path, threads)
                with swiftlet.Model(path) as model, model.session(threads=threads) as session:
                    expected = reference.run(None, {"input": x})[0]
                    got = session.run({"input": x})["logits"]
                    error = float(np.abs(got - expected).max() / np.abs(expected).max())
                    assert error < 1e-4, f"{name}: Swiftlet and onnxruntime disagree ({error:.3g})"
                    ours, theirs = alternate(lambda: session.run({"input": x}), lambda: reference.run(None, {"input": x}),
                                             args.runs)
                rows.append((name, threads, error, ours * 1e3, theirs * 1e3))
                ready.append((name, threads, *open_to_ready(lambda: open_and_run(path, threads, "swiftlet", x),
                                                            lambda: open_and_run(path, threads, "onnxruntime", x))))
                print(f"{name} threads={threads} done", file=sys.stderr)
            memory.append((name, *(child_peak_resident_mb([__file__, "--peak-rss-child", runtime, str(path)])
                                   for runtime in ("swiftlet", "onnxruntime"))))
    print(f"Swiftlet {swiftlet.version()}, onnxruntime {ort.__version__}, torch {sys.modules['torch'].__version__}; "
          f"batch 1, 224x224, {args.runs} alternating runs, medians\n")
    print("| model | threads | max rel. error | Swiftlet ms | onnxruntime ms | Swiftlet / ORT |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, threads, error, ours, theirs in rows:
        print(f"| {name} | {threads} | {error:.1e} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")
    print("\n| model | threads | open-to-ready Swiftlet ms | onnxruntime ms | ratio |\n|---|---:|---:|---:|---:|")
    for name, threads, ours, theirs in ready:
        print(f"| {name} | {threads} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")
    print("\n| model | peak resident Swiftlet MB | onnxruntime MB | ratio |\n|---|---:|---:|---:|")
    for name, ours, theirs in memory:
        print(f"| {name} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
