"""A .swl file is a safetensors file: the safetensors package reads the bundled models and what
swl.py writes, and the tensors it sees are the ones Swiftlet computes with."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load, load_file

import swiftlet
from conftest import BACKENDS, MODELS, assert_exact, require_file
from swiftlet import swl

NAMES = ["digits_mlp", "digits_cnn"]


@pytest.mark.parametrize("name", NAMES)
def test_bundled_model_reads_with_safetensors(name):
    path = require_file(MODELS / f"{name}.swl")
    tensors = load_file(str(path))
    assert tensors
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
        assert sorted(f.keys()) == sorted(tensors)
        for key in f.keys():
            assert_exact(f.get_tensor(key), tensors[key], what=key)
    assert meta["format"] == "swiftlet" and meta["format_version"] == "1"
    graph = json.loads(meta["graph"])
    assert graph["inputs"] and graph["outputs"] and graph["nodes"]
    produced = {o for n in graph["nodes"] for o in n["outputs"]}
    known = set(tensors) | {i["name"] for i in graph["inputs"]} | produced | {""}
    for node in graph["nodes"]:
        assert set(node["inputs"]) <= known, node
    assert all(all(isinstance(v, str) for v in (k, meta[k])) for k in meta)


@pytest.mark.parametrize("name", NAMES)
def test_bundled_model_layout(name):
    """Writers order tensors by element size and align the data section to 64 bytes."""
    data = require_file(MODELS / f"{name}.swl").read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    assert (8 + n) % 64 == 0
    header = json.loads(data[8:8 + n])
    for key, entry in header.items():
        if key != "__metadata__":
            size = np.dtype({"F32": "f4", "F16": "f2", "I8": "i1", "I32": "i4",
                             "I64": "i8", "BF16": "u2"}[entry["dtype"]]).itemsize
            assert entry["data_offsets"][0] % size == 0, key


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_tensors_equal_what_swiftlet_sees(name, backend):
    """Keeps the bundled file's tensor table and data section byte for byte, replaces the graph
    by Identity nodes that output every tensor, and compares with safetensors' reading."""
    data = require_file(MODELS / f"{name}.swl").read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header, body = json.loads(data[8:8 + n]), data[8 + n:]
    tensors = load_file(str(MODELS / f"{name}.swl"))
    usable = {k: v for k, v in tensors.items() if v.dtype in (np.float32, np.int32, np.int64)}
    assert usable
    names = sorted(usable)
    graph = {"inputs": [{"name": "dummy_input", "dtype": "F32", "shape": [1]}],
             "outputs": [{"name": f"out{i}", "dtype": {np.dtype(np.float32): "F32",
                                                       np.dtype(np.int32): "I32",
                                                       np.dtype(np.int64): "I64"}[usable[k].dtype],
                          "shape": list(usable[k].shape)} for i, k in enumerate(names)]
             + [{"name": "dummy_output", "dtype": "F32", "shape": [1]}],
             "nodes": [{"name": f"id{i}", "op": "Identity", "inputs": [k],
                        "outputs": [f"out{i}"]} for i, k in enumerate(names)]
             + [{"name": "id_dummy", "op": "Identity", "inputs": ["dummy_input"],
                 "outputs": ["dummy_output"]}]}
    header["__metadata__"]["graph"] = json.dumps(graph)
    text = json.dumps(header).encode()
    text += b" " * ((-(8 + len(text))) % 64)
    rebuilt = struct.pack("<Q", len(text)) + text + body
    assert load(rebuilt).keys() == tensors.keys()
    with swiftlet.Model.from_bytes(rebuilt) as m, m.session(backend) as s:
        out = s.run({"dummy_input": np.zeros(1, np.float32)})
    for i, k in enumerate(names):
        assert_exact(out[f"out{i}"], usable[k], what=k)


def test_swl_writer_roundtrip_all_dtypes(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"f32": rng.standard_normal((3, 5)).astype(np.float32),
               "f16": rng.standard_normal(7).astype(np.float16),
               "i8": rng.integers(-128, 127, (2, 2)).astype(np.int8),
               "i32": rng.integers(-2**31, 2**31 - 1, 9).astype(np.int32),
               "i64": rng.integers(-2**63, 2**63 - 1, (1, 3)).astype(np.int64),
               "scalar": np.asarray(2.5, np.float32)}
    path = tmp_path / "m.swl"
    swl.write_model(str(path), inputs=[swl.value_info("x", "F32", [1])],
                    outputs=[swl.value_info("y", "F32", [1])],
                    nodes=[swl.node("Identity", ["x"], ["y"])], tensors=tensors,
                    metadata={"model.name": "roundtrip"})
    loaded = load_file(str(path))
    assert loaded.keys() == tensors.keys()
    for k, v in tensors.items():
        assert_exact(loaded[k], v, what=k)
    with safe_open(str(path), "np") as f:
        assert f.metadata()["model.name"] == "roundtrip"
    with swiftlet.Model(path) as m, m.session("reference") as s:
        assert_exact(s.run({"x": np.array([4.0], np.float32)})["y"], np.array([4.0], np.float32))
