"""Fine-tunes a pruned digits model and writes it back to .swl with the same sparsity.

    swiftlet compress models/digits_mlp.swl pruned.swl --prune block:4x4 --sparsity 0.8
    .venv/bin/python tools/finetune_pruned.py pruned.swl -o finetuned.swl

Pruning by magnitude alone costs the digits MLP most of its accuracy (block 4x4 at 80%: about
21%); a few epochs on the training split bring it back. The script reads the .swl graph, builds
the same computation in PyTorch (CPU), trains every weight the file stores -- dense layers,
convolutions, biases and the *kept* entries of each SparseLinear and PatternConv -- on the 80% training split
that tools/train_digits.py trained on (scikit-learn's copy of the digits, no download), and
writes the new values into the same tensors: the graph, the sparse index arrays and therefore
the sparsity pattern are copied unchanged. A removed weight stays removed because the forward
pass multiplies by the mask, so its gradient is zero and its value is never written.

Supports the ops `swiftlet compress` leaves in the digits models: SparseLinear, PatternConv
(`--prune pattern`: each kept kernel keeps its pattern, removed kernels stay removed), Linear,
Conv and Gemm (with fused clips), MaxPool, Flatten, Relu. Any other op is refused by name.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "python"))
sys.path.insert(0, str(ROOT))
from swiftlet import swl  # noqa: E402
from train_digits import BATCH_SIZE, SEED, load_data  # noqa: E402

EPOCHS = 60
LEARNING_RATE = 3e-3


class SparseWeight:
    """A SparseLinear weight as a dense [N, K] tensor plus the mask of the entries it stores."""

    def __init__(self, values: np.ndarray, columns: np.ndarray, rows: np.ndarray, shape):
        n, k = shape
        blocks, r, c = values.shape
        dense = np.zeros((-(-n // r) * r, -(-k // c) * c), np.float32)
        mask = np.zeros_like(dense)
        for block_row in range(len(rows) - 1):
            for b in range(rows[block_row], rows[block_row + 1]):
                at = (slice(block_row * r, (block_row + 1) * r), slice(columns[b] * c, (columns[b] + 1) * c))
                dense[at] = values[b]
                mask[at] = 1
        self.layout = (values.shape, columns, rows)
        self.weight = torch.nn.Parameter(torch.from_numpy(dense[:n, :k].copy()))
        self.mask = torch.from_numpy(mask[:n, :k].copy())

    def values(self) -> np.ndarray:
        """The trained weight cut back into the stored blocks (ragged edges stay zero)."""
        (blocks, r, c), columns, rows = self.layout
        w = self.weight.detach().numpy()
        n, k = w.shape
        padded = np.zeros((-(-n // r) * r, -(-k // c) * c), np.float32)
        padded[:n, :k] = w
        out = np.zeros((blocks, r, c), np.float32)
        for block_row in range(len(rows) - 1):
            for b in range(rows[block_row], rows[block_row + 1]):
                out[b] = padded[block_row * r:(block_row + 1) * r, columns[b] * c:(columns[b] + 1) * c]
        return out


class PatternWeight:
    """A PatternConv weight as a dense [M, C/group, kH, kW] tensor plus the mask of the taps it keeps."""

    def __init__(self, values, patterns, ids, channels, pointers, shape):
        m, cg, kh, kw = shape
        self.entries = patterns.shape[1]
        dense = np.zeros((m, cg, kh * kw), np.float32)
        mask = np.zeros_like(dense)
        self.at = []  # kept kernel s -> (output channel, input channel, its pattern's positions)
        for output in range(m):
            for s in range(pointers[output], pointers[output + 1]):
                self.at.append((output, channels[s], patterns[ids[s]]))
                dense[output, channels[s], patterns[ids[s]]] = values[s]
                mask[output, channels[s], patterns[ids[s]]] = 1
        self.weight = torch.nn.Parameter(torch.from_numpy(dense.reshape(shape).copy()))
        self.mask = torch.from_numpy(mask.reshape(shape))

    def values(self) -> np.ndarray:
        """The trained weight's kept taps, in the stored [kernels, E] layout."""
        w = self.weight.detach().numpy()
        w = w.reshape(w.shape[0], w.shape[1], -1)
        kept = [w[output, channel, positions] for output, channel, positions in self.at]
        return np.array(kept, np.float32).reshape(len(kept), self.entries)  # [0, E] when every kernel went


def activation(y: torch.Tensor, name: str) -> torch.Tensor:
    if name == "none":
        return y
    if name == "relu":
        return torch.relu(y)
    raise SystemExit(f"activation {name!r} is not supported by this script")


class GraphModule(torch.nn.Module):
    """The .swl graph as a PyTorch computation over trainable copies of its tensors."""

    def __init__(self, graph: dict, tensors: dict[str, np.ndarray]):
        super().__init__()
        self.graph = graph
        self.sparse: dict[str, SparseWeight | PatternWeight] = {}
        self.params = torch.nn.ParameterDict()
        self.names: dict[str, str] = {}          # tensor name -> key in params (no dots allowed)
        for node in graph["nodes"]:
            op, inputs, attrs = node["op"], node["inputs"], node.get("attrs", {})
            if op == "SparseLinear":
                weight = SparseWeight(tensors[inputs[1]], tensors[inputs[2]], tensors[inputs[3]], attrs["weight_shape"])
                self.sparse[inputs[1]] = weight
                self.params[f"p{len(self.params)}"] = weight.weight
                trainable = inputs[4:]
            elif op == "PatternConv":
                weight = PatternWeight(*(tensors[name] for name in inputs[1:6]), attrs["weight_shape"])
                self.sparse[inputs[1]] = weight
                self.params[f"p{len(self.params)}"] = weight.weight
                trainable = inputs[6:]
            elif op in ("Linear", "Gemm", "Conv"):
                trainable = inputs[1:]
            elif op in ("MaxPool", "Flatten", "Relu"):
                trainable = []
            else:
                raise SystemExit(f"node {node['name']!r}: op {op} is not supported by this script")
            for name in trainable:
                if name and name in tensors and name not in self.names:
                    self.names[name] = f"p{len(self.params)}"
                    self.params[self.names[name]] = torch.nn.Parameter(torch.from_numpy(tensors[name].copy()))

    def tensor(self, name: str) -> torch.Tensor:
        return self.params[self.names[name]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.graph["inputs"][0]["name"]: x}
        for node in self.graph["nodes"]:
            op, inputs, attrs = node["op"], node["inputs"], node.get("attrs", {})
            a = values[inputs[0]]
            if op == "SparseLinear":
                sparse = self.sparse[inputs[1]]
                bias = self.tensor(inputs[4]) if len(inputs) > 4 and inputs[4] else None
                y = activation(F.linear(a, sparse.weight * sparse.mask, bias), attrs.get("activation", "none"))
            elif op == "Linear":
                bias = self.tensor(inputs[2]) if len(inputs) > 2 and inputs[2] else None
                y = activation(a @ self.tensor(inputs[1]) + (0 if bias is None else bias), attrs.get("activation", "none"))
            elif op == "Gemm":
                if attrs.get("transA", 0):
                    raise SystemExit(f"node {node['name']!r}: Gemm with transA is not supported by this script")
                b = self.tensor(inputs[1])
                y = attrs.get("alpha", 1.0) * (a @ (b.T if attrs.get("transB", 0) else b))
                if len(inputs) > 2 and inputs[2]:
                    y = y + attrs.get("beta", 1.0) * self.tensor(inputs[2])
                if "clip_min" in attrs or "clip_max" in attrs:
                    y = torch.clamp(y, attrs.get("clip_min"), attrs.get("clip_max"))
            elif op in ("Conv", "PatternConv"):
                if len(inputs) > (3 if op == "Conv" else 7):
                    raise SystemExit(f"node {node['name']!r}: a {op} with a fused residual is not supported by this script")
                pads = attrs.get("pads", [0, 0, 0, 0])
                if pads[:2] != pads[2:]:
                    raise SystemExit(f"node {node['name']!r}: asymmetric pads are not supported by this script")
                if op == "Conv":
                    weight, bias_at = self.tensor(inputs[1]), 2
                else:
                    weight, bias_at = self.sparse[inputs[1]].weight * self.sparse[inputs[1]].mask, 6
                bias = self.tensor(inputs[bias_at]) if len(inputs) > bias_at and inputs[bias_at] else None
                y = F.conv2d(a, weight, bias, stride=attrs.get("strides", [1, 1]),
                             padding=pads[:2], dilation=attrs.get("dilations", [1, 1]), groups=attrs.get("group", 1))
                if "clip_min" in attrs or "clip_max" in attrs:
                    y = torch.clamp(y, attrs.get("clip_min"), attrs.get("clip_max"))
            elif op == "MaxPool":
                pads = attrs.get("pads", [0, 0, 0, 0])
                y = F.max_pool2d(a, attrs["kernel_shape"], attrs.get("strides", attrs["kernel_shape"]), pads[:2])
            elif op == "Flatten":
                y = torch.flatten(a, attrs.get("axis", 1))
            else:  # Relu
                y = torch.relu(a)
            values[node["outputs"][0]] = y
        return values[self.graph["outputs"][0]["name"]]

    def trained_tensors(self) -> dict[str, np.ndarray]:
        out = {name: self.params[key].detach().numpy().astype(np.float32) for name, key in self.names.items()}
        out.update({name: weight.values() for name, weight in self.sparse.items()})
        return out


def accuracy(module: GraphModule, x: torch.Tensor, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((module(x).argmax(1).numpy() == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a pruned digits .swl (from swiftlet compress --prune)")
    parser.add_argument("-o", "--output", required=True, help="the fine-tuned .swl to write")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE)
    args = parser.parse_args()
    if args.epochs < 1 or not args.lr > 0:
        raise SystemExit("--epochs must be ≥ 1 and --lr > 0")

    with safe_open(args.model, "numpy") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    graph = json.loads(metadata["graph"])
    if len(graph["inputs"]) != 1:
        raise SystemExit("the model must have one input (the digit images)")
    shape = [d if isinstance(d, int) else -1 for d in graph["inputs"][0]["shape"]]

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    module = GraphModule(graph, tensors)
    x_train, x_test, y_train, y_test = load_data()
    xs, ys = torch.from_numpy(x_train).reshape(shape), torch.from_numpy(y_train)
    xt = torch.from_numpy(x_test).reshape(shape)
    before = accuracy(module, xt, y_test)

    optimizer = torch.optim.Adam(module.parameters(), lr=args.lr)
    order = torch.Generator().manual_seed(SEED)
    for _ in range(args.epochs):
        for batch in torch.randperm(len(xs), generator=order).split(BATCH_SIZE):
            optimizer.zero_grad()
            F.cross_entropy(module(xs[batch]), ys[batch]).backward()
            optimizer.step()
    after = accuracy(module, xt, y_test)

    tensors.update(module.trained_tensors())
    kept = {k: v for k, v in metadata.items() if k.startswith("model.")}
    kept["model.finetuned"] = f"{args.epochs} epochs, Adam lr {args.lr}, digits training split, masks kept"
    swl.write_model(args.output, inputs=graph["inputs"], outputs=graph["outputs"], nodes=graph["nodes"],
                    tensors=tensors, metadata=kept)
    print(f"test accuracy {100 * before:.2f}% -> {100 * after:.2f}% after {args.epochs} epochs; wrote {args.output}")


if __name__ == "__main__":
    main()
