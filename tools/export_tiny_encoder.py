"""Exports models/tiny_encoder.onnx: a two-layer BERT-style encoder (embeddings with positions,
multi-head attention with a padding mask, erf GELU, LayerNorm), random weights, written as plain
PyTorch so no `transformers` is needed. Its ONNX graph has what the torch exporter emits for real
encoders (MiniLM, BERT): shape arithmetic (Shape, Gather, Unsqueeze, Concat, Range), mask Cast and
arithmetic, MatMul with broadcasting, Softmax, Erf, LayerNormalization.

    make models        # or: .venv/bin/python tools/export_tiny_encoder.py   (needs torch, onnx)

Deterministic (seeded); the file is small enough to ship (python/tests/test_transformer_import.py
uses it against onnxruntime).
"""
import math
import os

import torch
import torch.nn as nn

D_MODEL, HEADS, FFN, LAYERS, VOCAB, MAX_POSITIONS = 32, 4, 64, 2, 100, 64


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D_MODEL, D_MODEL) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
        self.up, self.down = nn.Linear(D_MODEL, FFN), nn.Linear(FFN, D_MODEL)

    def forward(self, x, mask):
        batch, seq, _ = x.shape
        head = D_MODEL // HEADS

        def heads(y):
            return y.view(batch, seq, HEADS, head).transpose(1, 2)

        scores = heads(self.q(x)) @ heads(self.k(x)).transpose(-1, -2) / math.sqrt(head)
        # The additive padding mask BERT implementations use.
        scores = scores + (1.0 - mask[:, None, None, :].to(scores.dtype)) * torch.finfo(scores.dtype).min
        context = (scores.softmax(-1) @ heads(self.v(x))).transpose(1, 2).reshape(batch, seq, D_MODEL)
        x = self.norm1(x + self.o(context))
        return self.norm2(x + self.down(nn.functional.gelu(self.up(x))))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(VOCAB, D_MODEL), nn.Embedding(MAX_POSITIONS, D_MODEL)
        self.norm = nn.LayerNorm(D_MODEL)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))

    def forward(self, input_ids, attention_mask):
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.norm(self.tokens(input_ids) + self.positions(positions))
        for layer in self.layers:
            x = layer(x, attention_mask)
        return x


def main() -> None:
    torch.manual_seed(0)
    model = Encoder().eval()
    ids = torch.randint(0, VOCAB, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    path = os.path.join(os.path.dirname(__file__), "..", "models", "tiny_encoder.onnx")
    dynamic = {"batch": 0, "seq": 1}
    torch.onnx.export(model, (ids, mask), path, input_names=["input_ids", "attention_mask"],
                      output_names=["hidden"], opset_version=17, dynamo=False,
                      dynamic_axes={name: {v: k for k, v in dynamic.items()}
                                    for name in ("input_ids", "attention_mask", "hidden")})
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
