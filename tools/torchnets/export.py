"""torch.onnx.export with every input's and output's leading axes dynamic, through either of
torch's exporters: the legacy TorchScript one (opset 17) or the dynamo one (torch.export, opset
20 here). Weights stay inside the .onnx file (all models here are < 2 GB)."""
from __future__ import annotations

import pathlib

import torch

# Per input, the dynamic axes by name: batch for images, batch and sequence for token inputs.
IMAGE_AXES = {0: "batch"}
TOKEN_AXES = {0: "batch", 1: "seq"}


def export(model: torch.nn.Module, inputs: tuple, path: pathlib.Path, input_names, output_name: str,
           axes: dict[int, str], dynamo: bool) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if dynamo:
        dims = {name: torch.export.Dim(name) for name in set(axes.values())}
        shapes = tuple({axis: dims[symbol] for axis, symbol in axes.items()} for _ in input_names)
        torch.onnx.export(model, inputs, str(path), input_names=list(input_names), output_names=[output_name],
                          dynamo=True, dynamic_shapes=shapes, external_data=False, verbose=False)
    else:
        torch.onnx.export(model, inputs, str(path), input_names=list(input_names), output_names=[output_name],
                          opset_version=17, dynamo=False,
                          dynamic_axes={name: axes for name in [*input_names, output_name]})
    return path
