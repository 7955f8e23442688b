"""Writing `.swl` model files from numpy (the format is specified in docs/FORMAT.md).

A `.swl` file is a safetensors file whose `__metadata__` carries the graph, so any safetensors
reader lists its tensors. This writer is pure Python + numpy: it is what scripts use to build
models (tools/train_digits.py, the op tests); it does not need libswiftlet.
"""
from __future__ import annotations

import json
import struct
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

FORMAT_VERSION = "1"

_DTYPE_NAMES = {
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint8): "U8",
    np.dtype(np.int32): "I32",
    np.dtype(np.int64): "I64",
}
# Data section alignment: with tensors ordered by element size, every tensor is naturally aligned.
_DATA_ALIGNMENT = 64


def value_info(name: str, dtype: str, shape: Sequence[int | str]) -> dict[str, Any]:
    """A graph input/output declaration; string dims are dynamic symbols (e.g. "batch")."""
    return {"name": name, "dtype": dtype, "shape": list(shape)}


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], name: str | None = None,
         **attrs: Any) -> dict[str, Any]:
    """One graph node; `attrs` are the op's attributes (docs/FORMAT.md lists them per op)."""
    entry: dict[str, Any] = {"name": name or outputs[0], "op": op,
                             "inputs": list(inputs), "outputs": list(outputs)}
    if attrs:
        entry["attrs"] = {k: _plain(v) for k, v in attrs.items()}
    return entry


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def model_bytes(*, inputs: Iterable[Mapping[str, Any]], outputs: Iterable[Mapping[str, Any]],
                nodes: Iterable[Mapping[str, Any]], tensors: Mapping[str, np.ndarray],
                metadata: Mapping[str, str] | None = None) -> bytes:
    """Serializes a model to `.swl` bytes."""
    graph = {"inputs": list(inputs), "outputs": list(outputs), "nodes": list(nodes)}
    meta = {"format": "swiftlet", "format_version": FORMAT_VERSION,
            "graph": json.dumps(graph, separators=(",", ":"))}
    for key, value in (metadata or {}).items():
        if not isinstance(value, str):
            raise TypeError(f"metadata value for {key!r} must be a string (a safetensors rule)")
        meta[key] = value

    arrays = {}
    for name, array in tensors.items():
        array = np.asarray(array)
        if array.dtype not in _DTYPE_NAMES:
            raise TypeError(f"tensor {name!r}: dtype {array.dtype} has no .swl encoding")
        # np.asarray(order="C"), not np.ascontiguousarray: that one turns a scalar [] into [1]
        arrays[name] = np.asarray(array, order="C").astype(array.dtype.newbyteorder("<"), copy=False)
    # Larger elements first keeps every tensor naturally aligned without gaps (safetensors
    # forbids gaps); the name breaks ties so the output is deterministic.
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))

    header: dict[str, Any] = {}
    offset = 0
    for name in order:
        array = arrays[name]
        header[name] = {"dtype": _DTYPE_NAMES[array.dtype.newbyteorder("=")],
                        "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header["__metadata__"] = meta

    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    padded = -(-(8 + len(text)) // _DATA_ALIGNMENT) * _DATA_ALIGNMENT - 8
    text += b" " * (padded - len(text))
    return struct.pack("<Q", len(text)) + text + b"".join(arrays[n].tobytes() for n in order)


def write_model(path: str, **kwargs: Any) -> None:
    """Writes a `.swl` file; keyword arguments as for `model_bytes`."""
    data = model_bytes(**kwargs)
    with open(path, "wb") as f:
        f.write(data)
