"""Where onnxruntime spends a run, per op type and slowest nodes (its own profiler): the peer's
side of `swiftlet bench --profile` (docs/BENCHMARKS.md).

    .venv/bin/python bench/onnxruntime_profile.py [--model build/minilm/minilm.onnx] [--threads 1]
        [--batch 1] [--seq 128] [--runs 30] [--top 15]

ORT_ENABLE_ALL, intra_op_num_threads = --threads; batch --batch: all-ones token ids of length --seq
for integer inputs (MiniLM), a random batch×3×224×224 image for a float input (the CNNs in build/cnn);
medians of the runs after the first 10 (warm-up); the profile's JSON file is removed afterwards.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib

import numpy as np
import onnxruntime as ort

MODEL = pathlib.Path(__file__).resolve().parents[1] / "build" / "minilm" / "minilm.onnx"
WARMUP = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=pathlib.Path, default=MODEL)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--top", type=int, default=15, help="slowest nodes listed")
    args = parser.parse_args()
    if args.top < 0:
        parser.error("--top must be ≥ 0")
    if args.batch < 1 or args.seq < 1:
        parser.error("--batch and --seq must be ≥ 1")
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224)).astype(np.float32)
    feeds = {i.name: image if i.type == "tensor(float)" else np.ones((args.batch, args.seq), np.int64)
             for i in session.get_inputs()}
    for _ in range(WARMUP + args.runs):
        session.run(None, feeds)
    path = session.end_profiling()
    with open(path) as file:
        events = json.load(file)
    os.remove(path)
    durations = collections.defaultdict(list)  # (op type, node) -> µs per run
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            durations[(event["args"]["op_name"], event["name"][: -len("_kernel_time")])].append(event["dur"])
    medians = {key: float(np.median(times[WARMUP:])) for key, times in durations.items() if len(times) > WARMUP}
    per_type = collections.Counter()
    for (op, _), median in medians.items():
        per_type[op] += median
    print(f"onnxruntime {ort.__version__}, {args.model.name}, {args.threads} thread(s), batch {args.batch}: ms per run by op type")
    for op, total in per_type.most_common():
        print(f"  {op:28s} {total / 1000:7.3f}")
    print("slowest nodes (ms):")
    for (op, node), median in sorted(medians.items(), key=lambda item: -item[1])[:args.top]:
        print(f"  {node[:60]:60s} {op:16s} {median / 1000:.3f}")


if __name__ == "__main__":
    main()
