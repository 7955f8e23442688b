"""Exports the ResNet-18 and MobileNetV2 that bench/cnn_vs_onnxruntime.py measures (random weights,
tools/torchnets/vision.py, legacy exporter) to files, so `swiftlet bench --profile` can look at
the same graphs node by node.

    make setup && .venv/bin/python tools/export_cnn.py [--output build/cnn]
"""
from __future__ import annotations

import argparse
import pathlib

from torchnets import export, vision


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", type=pathlib.Path, default=pathlib.Path("build/cnn"))
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for name, build in (("resnet18", vision.resnet18), ("mobilenet_v2", vision.mobilenet_v2)):
        path = args.output / f"{name}.onnx"
        export.export(build(), (vision.example_input(1),), path, ["input"], "logits", export.IMAGE_AXES, dynamo=False)
        print(path)


if __name__ == "__main__":
    main()
