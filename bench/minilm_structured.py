"""Structured removal on all-MiniLM-L6-v2 (issue 4): what dropping heads, FFN neurons and whole
layers costs in embedding fidelity and gains in speed — no fine-tuning.

    .venv/bin/python tools/export_minilm.py            # build/minilm/minilm.onnx
    .venv/bin/pip install -q -r bench/requirements.txt  # tokenizers
    .venv/bin/python bench/minilm_structured.py [--runs 20]

Which heads and which layer go is chosen by `swiftlet analyze --heads --block '/layer.N/*'` on the
24 CALIBRATION sentences of bench/minilm_fidelity.py (divergence from the fp32 output); fidelity
is measured on its 60 other SENTENCES (mean cosine of the sentence embeddings to the fp32 model's);
FFN neurons go by magnitude (`--drop-neurons GLOB=P%`). Speed: batch 1, sequence 128, one thread,
each model alternating with the dense model in this one process (bench/side_by_side.py); medians.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "bench"))
import swiftlet  # noqa: E402
from minilm_fidelity import CALIBRATION, CLI, MODEL, SENTENCES, swiftlet_embeddings, tokenize  # noqa: E402
from minilm_vs_onnxruntime import feeds  # noqa: E402
from side_by_side import alternate  # noqa: E402

FFN = "/layer.*/intermediate/*"


def significance(folder: pathlib.Path) -> list[dict]:
    """`swiftlet analyze` of every head and every layer on the calibration sentences."""
    data = []
    for name, values in tokenize(CALIBRATION).items():
        np.save(folder / f"{name}.npy", values)
        data += ["--data", f"{name}={folder / f'{name}.npy'}"]
    blocks = [argument for layer in range(6) for argument in ("--block", f"/layer.{layer}/*")]
    subprocess.run([str(CLI), "analyze", str(MODEL), *data, "--heads", *blocks, "--json", str(folder / "a.json")],
                   check=True, capture_output=True)
    return json.loads((folder / "a.json").read_text())["components"]


def least_significant_heads(components: list[dict], per_layer: int) -> list[str]:
    """--drop-heads rules: the `per_layer` least significant heads of each attention node."""
    by_node: dict[str, list[tuple[float, int]]] = {}
    for c in components:
        if c["kind"] == "attention head":
            node, head = c["component"].rsplit(" head ", 1)
            by_node.setdefault(node, []).append((c["significance"], int(head)))
    return [f"{node}={','.join(str(h) for _, h in sorted(heads)[:per_layer])}" for node, heads in by_node.items()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not MODEL.exists():
        raise SystemExit(f"{MODEL} is missing: run tools/export_minilm.py")
    sentences = tokenize(SENTENCES)
    reference = swiftlet_embeddings(MODEL, sentences)
    timing_inputs = feeds(1, 128)
    with tempfile.TemporaryDirectory() as name:
        folder = pathlib.Path(name)
        components = significance(folder)
        layers = sorted((c["significance"], c["component"].removeprefix("block ")) for c in components if c["kind"] == "block")
        variants = {
            "4 least significant heads of 12 per layer": [a for rule in least_significant_heads(components, 4) for a in ("--drop-heads", rule)],
            "6 least significant heads of 12 per layer": [a for rule in least_significant_heads(components, 6) for a in ("--drop-heads", rule)],
            "25% of FFN neurons (smallest)": ["--drop-neurons", f"{FFN}=25%"],
            "50% of FFN neurons (smallest)": ["--drop-neurons", f"{FFN}=50%"],
            f"least significant layer ({layers[0][1]})": ["--drop-layers", layers[0][1]],
            "4 heads per layer + 25% FFN neurons": [a for rule in least_significant_heads(components, 4) for a in ("--drop-heads", rule)]
                                                   + ["--drop-neurons", f"{FFN}=25%"],
        }
        print(f"Swiftlet {swiftlet.version()}; fidelity on {len(SENTENCES)} sentences; speed b1 s128, 1 thread, "
              f"{args.runs} alternating runs per pair, medians\n")
        print("| removed | parameters | mean cosine to fp32 | min cosine | dense ms | removed ms | speedup |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        with swiftlet.Model(str(MODEL)) as d, d.session(threads=1) as dense:
            for label, arguments in variants.items():
                path = folder / "variant.swl"
                report = subprocess.run([str(CLI), "compress", str(MODEL), str(path), *arguments], check=True,
                                        capture_output=True, text=True).stdout
                # "parameters BEFORE → AFTER" in compress's summary line.
                parameters = re.search(r"parameters (\d+) → (\d+)", report).group(2)
                cosine = (swiftlet_embeddings(path, sentences) * reference).sum(1)
                with swiftlet.Model(str(path)) as m, m.session(threads=1) as smaller:
                    dense_ms, smaller_ms = (t * 1e3 for t in alternate(lambda: dense.run(timing_inputs),
                                                                       lambda: smaller.run(timing_inputs), args.runs))
                print(f"| {label} | {parameters} | {cosine.mean():.5f} | {cosine.min():.5f} | {dense_ms:.1f} | {smaller_ms:.1f} "
                      f"| {dense_ms / smaller_ms:.2f}× |", flush=True)
        print("\nLeast significant layers (divergence when dropped): "
              + ", ".join(f"{block} {value:.4g}" for value, block in layers))


if __name__ == "__main__":
    main()
