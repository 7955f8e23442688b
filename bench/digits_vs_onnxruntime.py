"""Swiftlet vs onnxruntime on the bundled digits models, side by side in one process.

From the repository root (needs the staged library build/prefix/lib/libswiftlet.so.1, or
SWIFTLET_LIB set to a libswiftlet.so.1):

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/digits_vs_onnxruntime.py [--runs 200]

For each of models/digits_mlp.swl and models/digits_cnn.swl it
1. builds the equivalent ONNX model (opset 17, dynamic "batch" dimension) from the .swl file's
   own tensors and graph JSON, node by node, and checks it with onnx.checker; nothing is
   downloaded and no other converter is involved, so both runtimes run the same weights;
2. asserts, before any timing, that on the whole test set (data/digits_test_x.npy, 360 images)
   the two runtimes' logits agree within 1e-4 of the largest |logit| and give the same accuracy;
3. times Session.run for threads T in (1, 2) and batch in (1, 32, 360): 20 warm-up runs, then
   --runs timed runs of each, in alternating blocks so that machine drift hits both alike while
   neither runtime's spinning worker threads slow the other's timed runs (bench/side_by_side.py),
   each block at least 5 runs and 20 ms long, so the runs are timed on awake cores.
   Each time is time.perf_counter() around
   the Python `run` call, so it includes each binding's Python overhead (Swiftlet: ctypes,
   input/output structs, output allocation; onnxruntime: pybind11, output allocation). Reported:
   medians in µs, the ratio Swiftlet / onnxruntime (< 1 means Swiftlet is faster), and Swiftlet's
   own in-library time (RunReport.wall_time_ms), which shows how much of its time is Python;
4. times load + session creation from the model file (swiftlet.Model + Model.session, against
   onnxruntime.InferenceSession on the .onnx written to a temporary directory), median of 20.

onnxruntime: CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads=T,
inter_op_num_threads=1, ORT_SEQUENTIAL. Swiftlet: backend "cpu", threads=T (its kernels split
their own work; OpenBLAS stays single-threaded).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import safetensors
import safetensors.numpy
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "bench"))  # side_by_side, also when a test loads this file by path
import swiftlet  # noqa: E402  (needs the sys.path entry above)
from side_by_side import alternate  # noqa: E402

MODELS = (("digits_mlp", (-1, 64)), ("digits_cnn", (-1, 1, 8, 8)))
THREADS = (1, 2)
BATCHES = (1, 32, 360)
WARMUP = 20
BLOCK_SECONDS = 0.02
LOAD_REPEATS = 20
TOLERANCE = 1e-4          # of max |logit|: models/README.md's bound for a correct runtime
OPSET = 17
IR_VERSION = 8            # the IR version that goes with opset 17; older onnxruntimes reject newer

_DTYPES = {"F32": TensorProto.FLOAT, "I32": TensorProto.INT32, "I64": TensorProto.INT64}
# Ops whose .swl attributes are the ONNX opset-17 attributes of the same names and meanings.
_SAME_AS_ONNX = {"Gemm", "Relu", "Conv", "BatchNormalization", "MaxPool", "Flatten"}
# JSON writes 1.0 as 1 in places; ONNX would then get an INT attribute where it needs a FLOAT.
_FLOAT_ATTRS = {"alpha", "beta", "epsilon"}


def swl_to_onnx(path: Path) -> onnx.ModelProto:
    """The ONNX model equivalent to a .swl file, from its tensors and its graph JSON."""
    tensors = safetensors.numpy.load_file(str(path))
    with safetensors.safe_open(str(path), "np") as f:
        graph = json.loads(f.metadata()["graph"])
    initializers = [numpy_helper.from_array(array, name) for name, array in tensors.items()]
    nodes = []
    for node in graph["nodes"]:
        op, inputs = node["op"], list(node["inputs"])
        attrs = {k: float(v) if k in _FLOAT_ATTRS else v for k, v in node.get("attrs", {}).items()}
        if op == "Clip":
            # Since opset 11, Clip's bounds are optional inputs, not attributes.
            for bound in ("min", "max"):
                if bound in attrs:
                    name = f"{node['name']}.{bound}"
                    initializers.append(numpy_helper.from_array(
                        np.array(attrs.pop(bound), dtype=np.float32), name))
                    inputs.append(name)
                else:
                    inputs.append("")
            while inputs[-1] == "":
                inputs.pop()
        elif op not in _SAME_AS_ONNX:
            raise NotImplementedError(f"{path.name}: no ONNX translation for op {op!r}")
        nodes.append(helper.make_node(op, inputs, node["outputs"], name=node["name"], **attrs))

    def value_info(io):   # symbol strings in shapes become ONNX dim_params (dynamic dims)
        return helper.make_tensor_value_info(io["name"], _DTYPES[io["dtype"]], io["shape"])

    onnx_graph = helper.make_graph(nodes, path.stem, [value_info(i) for i in graph["inputs"]],
                                   [value_info(o) for o in graph["outputs"]], initializers)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model


def ort_session(onnx_path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def swl_session(swl_path: Path, threads: int) -> swiftlet.Session:
    with swiftlet.Model(swl_path) as model:   # the session keeps what it needs of the model
        return model.session(backend="cpu", threads=threads)


def check_agreement(label: str, swl: swiftlet.Session, onnx_rt: ort.InferenceSession,
                    x: np.ndarray, y: np.ndarray) -> str:
    ours = swl.run({"input": x})["logits"]
    theirs = onnx_rt.run(None, {"input": x})[0]
    scale = float(np.abs(theirs).max())
    worst = float(np.abs(ours - theirs).max())
    acc_ours = float((ours.argmax(1) == y).mean())
    acc_theirs = float((theirs.argmax(1) == y).mean())
    assert worst <= TOLERANCE * scale, (
        f"{label}: logits differ by {worst:.3g}, more than {TOLERANCE} x max |logit| {scale:.3g}")
    assert acc_ours == acc_theirs, (
        f"{label}: accuracy {acc_ours:.4f} (Swiftlet) != {acc_theirs:.4f} (onnxruntime)")
    return (f"{label}: max |Δlogit| {worst:.2e} = {worst / scale:.1e} of max |logit| "
            f"{scale:.2f}; accuracy {acc_ours:.2%} both")


def time_runs(swl: swiftlet.Session, onnx_rt: ort.InferenceSession, x: np.ndarray, runs: int):
    """Medians (Swiftlet µs, onnxruntime µs, Swiftlet in-library µs), alternating blocks of runs."""
    feed = {"input": x}
    start = time.perf_counter()
    for _ in range(WARMUP):
        swl.run(feed)
        onnx_rt.run(None, feed)
    pair = (time.perf_counter() - start) / WARMUP
    lib_ms = []

    def ours():
        _, report = swl.run(feed, report=True)
        lib_ms.append(report.wall_time_ms)

    # Blocks of at least BLOCK_SECONDS each: the pause before a block (side_by_side.py) idles the
    # cores, and runs of a fraction of a millisecond in blocks of 5 were all timed while they woke
    # (Swiftlet's digits CNN at batch 360 on two threads: 1742, 1223, 1180, 1101, 907, 870 µs by
    # position after a 150 ms pause, 720-810 in a steady loop).
    block = max(5, min(runs, round(BLOCK_SECONDS / max(pair, 1e-9))))
    swl_s, ort_s = alternate(ours, lambda: onnx_rt.run(None, feed), runs, block=block)
    return swl_s * 1e6, ort_s * 1e6, statistics.median(lib_ms) * 1e3


def time_loads(swl_path: Path, onnx_path: Path, threads: int):
    """Medians (Swiftlet ms, onnxruntime ms) of file -> ready session, alternating."""
    swl_ns, ort_ns = [], []
    for _ in range(LOAD_REPEATS):
        t0 = time.perf_counter_ns()
        s = swl_session(swl_path, threads)
        t1 = time.perf_counter_ns()
        s.close()
        t2 = time.perf_counter_ns()
        o = ort_session(onnx_path, threads)
        t3 = time.perf_counter_ns()
        del o         # freed now, as s.close() frees Swiftlet's, not at some later point
        swl_ns.append(t1 - t0)
        ort_ns.append(t3 - t2)
    return statistics.median(swl_ns) / 1e6, statistics.median(ort_ns) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200,
                        help="timed runs per runtime per (model, threads, batch); at least 50")
    args = parser.parse_args()
    if args.runs < 50:
        parser.error("--runs must be at least 50")

    x_all = np.load(REPO / "data" / "digits_test_x.npy")
    y = np.load(REPO / "data" / "digits_test_y.npy")
    run_rows, load_rows, checks = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in MODELS:
            swl_path = REPO / "models" / f"{name}.swl"
            onnx_path = Path(tmp) / f"{name}.onnx"
            onnx.save(swl_to_onnx(swl_path), str(onnx_path))
            x = x_all.reshape(shape)
            for threads in THREADS:
                print(f"{name}, threads={threads} ...", file=sys.stderr, flush=True)
                load_rows.append((name, threads, *time_loads(swl_path, onnx_path, threads)))
                with swl_session(swl_path, threads) as swl:
                    onnx_rt = ort_session(onnx_path, threads)
                    checks.append(check_agreement(f"{name} T={threads}", swl, onnx_rt, x, y))
                    for batch in BATCHES:
                        run_rows.append((name, threads, batch,
                                         *time_runs(swl, onnx_rt, x[:batch], args.runs)))
                    del onnx_rt   # its intra-op threads must not linger into the next T

    print(f"Swiftlet {swiftlet.version()} ({swiftlet._capi.lib()._name}), onnxruntime "
          f"{ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}, Python "
          f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print("\nCorrectness (asserted before timing):")
    for line in checks:
        print(f"- {line}")
    print(f"\nRun time: median of {args.runs} runs each (alternating blocks) after {WARMUP} warm-up runs; "
          "perf_counter around the Python run() call, Python overhead included for both. "
          "Ratio < 1: Swiftlet faster.\n")
    print("| model | threads | batch | Swiftlet µs | onnxruntime µs | Swiftlet / ORT "
          "| Swiftlet in-library µs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, threads, batch, ours, theirs, in_lib in run_rows:
        print(f"| {name} | {threads} | {batch} | {ours:.1f} | {theirs:.1f} | "
              f"{ours / theirs:.2f} | {in_lib:.1f} |")
    print(f"\nLoad + session creation from the file: median of {LOAD_REPEATS}, alternating.\n")
    print("| model | threads | Swiftlet ms | onnxruntime ms | Swiftlet / ORT |")
    print("|---|---:|---:|---:|---:|")
    for name, threads, ours, theirs in load_rows:
        print(f"| {name} | {threads} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
