"""A BERT-style encoder exported by PyTorch's ONNX exporter (models/tiny_encoder.onnx, made by
tools/export_tiny_encoder.py) against onnxruntime: the shape arithmetic exporters emit (Shape,
Gather, Unsqueeze, Concat, Range), the additive padding mask, multi-head attention, erf GELU and
LayerNorm, at dynamic batch and sequence lengths, with and without padding, on both backends.

Tolerance: 1e-4 of the output's largest |value| (the issue's bar for fp32 models): the two
runtimes sum the 32- to 64-term dot products and the softmax in different orders.
"""
from __future__ import annotations

import subprocess

import numpy as np
import onnxruntime as ort
import pytest

import swiftlet
from conftest import BACKENDS, MODELS, require_file

MODEL = MODELS / "tiny_encoder.onnx"
VOCAB = 100


def feeds(batch: int, seq: int, padded: bool, seed: int):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, (batch, seq)).astype(np.int64)
    mask = np.ones((batch, seq), np.int64)
    if padded:
        # Row r keeps its first max(1, seq - r - 1) tokens: every row has at least one.
        for row in range(batch):
            mask[row, max(1, seq - row - 1):] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def reference():
    require_file(MODEL)
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_encoder_matches_onnxruntime(backend, reference):
    require_file(MODEL)
    with swiftlet.Model(MODEL) as model, model.session(backend=backend) as session:
        # One session through every shape: each new (batch, seq) gets its own plan.
        for seed, (batch, seq, padded) in enumerate([(1, 7, False), (3, 7, True), (1, 1, False),
                                                     (3, 30, True), (2, 30, False), (1, 7, False)]):
            inputs = feeds(batch, seq, padded, seed)
            expected = reference.run(None, inputs)[0]
            got = session.run(inputs)["hidden"]
            assert got.shape == expected.shape == (batch, seq, 32)
            scale = float(np.abs(expected).max())
            error = float(np.abs(got - expected).max())
            assert error <= 1e-4 * scale, f"batch {batch} seq {seq} padded {padded}: {error:.3g} vs scale {scale:.3g}"


def test_swiftlet_import_round_trip(cli, tmp_path, reference):
    """`swiftlet import` writes a .swl that gives the same answer as opening the .onnx."""
    out = tmp_path / "encoder.swl"
    proc = subprocess.run([str(cli), "import", str(MODEL), "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    inputs = feeds(2, 9, True, 42)
    with swiftlet.Model(out) as model, model.session() as session:
        got = session.run(inputs)["hidden"]
    expected = reference.run(None, inputs)[0]
    assert float(np.abs(got - expected).max()) <= 1e-4 * float(np.abs(expected).max())
