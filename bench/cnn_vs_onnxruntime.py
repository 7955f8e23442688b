"""Swiftlet vs onnxruntime on ResNet-18 and MobileNetV2 (torchvision's architectures, written in
plain PyTorch here because torchvision's compiled ops do not load against torch 2.13.0+cpu;
random weights, BatchNorm statistics randomized so folding matters), exported by torch's ONNX
exporter, side by side in one process.

    .venv/bin/pip install -r bench/requirements.txt torch==2.13.0+cpu
    .venv/bin/python bench/cnn_vs_onnxruntime.py [--runs 20]

Checks agreement first (max |Δ| / max |logit|), then for threads 1 and 2 at batch 1, 224×224:
--runs timed runs of each in alternating blocks (bench/side_by_side.py: why blocks),
perf_counter around each Python run() call. Prints medians and the ratio
Swiftlet / onnxruntime (< 1: Swiftlet faster).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # side_by_side
import swiftlet  # noqa: E402
from side_by_side import alternate  # noqa: E402


def conv_bn(i, o, k, stride=1, groups=1, relu=None):
    layers = [nn.Conv2d(i, o, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(o)]
    return nn.Sequential(*layers, *([relu()] if relu else []))


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.body = nn.Sequential(conv_bn(i, o, 3, stride, relu=nn.ReLU), conv_bn(o, o, 3))
        self.skip = conv_bn(i, o, 1, stride) if stride != 1 or i != o else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


def resnet18():
    widths, blocks = [64, 64, 128, 256, 512], []
    for stage in range(4):
        blocks += [BasicBlock(widths[stage], widths[stage + 1], 1 if stage == 0 else 2),
                   BasicBlock(widths[stage + 1], widths[stage + 1], 1)]
    return nn.Sequential(conv_bn(3, 64, 7, 2, relu=nn.ReLU), nn.MaxPool2d(3, 2, 1), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))


class InvertedResidual(nn.Module):
    def __init__(self, i, o, stride, expand):
        super().__init__()
        hidden = i * expand
        layers = [conv_bn(i, hidden, 1, relu=nn.ReLU6)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, relu=nn.ReLU6), conv_bn(hidden, o, 1)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and i == o

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v2():
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    layers, channels = [conv_bn(3, 32, 3, 2, relu=nn.ReLU6)], 32
    for expand, out, repeats, stride in settings:
        for r in range(repeats):
            layers.append(InvertedResidual(channels, out, stride if r == 0 else 1, expand))
            channels = out
    layers += [conv_bn(channels, 1280, 1, relu=nn.ReLU6), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers)


def export(model: nn.Module, path: pathlib.Path) -> None:
    torch.manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    torch.onnx.export(model.eval(), (torch.randn(1, 3, 224, 224),), str(path), input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, build in (("resnet18", resnet18), ("mobilenet_v2", mobilenet_v2)):
            path = pathlib.Path(folder) / f"{name}.onnx"
            torch.manual_seed(0)
            export(build(), path)
            for threads in (1, 2):
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                reference = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                with swiftlet.Model(path) as model, model.session(threads=threads) as session:
                    expected = reference.run(None, {"input": x})[0]
                    got = session.run({"input": x})["logits"]
                    error = float(np.abs(got - expected).max() / np.abs(expected).max())
                    assert error < 1e-4, f"{name}: Swiftlet and onnxruntime disagree ({error:.3g})"
                    ours, theirs = alternate(lambda: session.run({"input": x}), lambda: reference.run(None, {"input": x}),
                                             args.runs)
                rows.append((name, threads, error, ours * 1e3, theirs * 1e3))
                print(f"{name} threads={threads} done", file=sys.stderr)
    print(f"Swiftlet {swiftlet.version()}, onnxruntime {ort.__version__}, torch {torch.__version__}; "
          f"batch 1, 224x224, {args.runs} alternating runs, medians\n")
    print("| model | threads | max rel. error | Swiftlet ms | onnxruntime ms | Swiftlet / ORT |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, threads, error, ours, theirs in rows:
        print(f"| {name} | {threads} | {error:.1e} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
