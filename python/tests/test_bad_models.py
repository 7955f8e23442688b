"""Corrupted and invalid .swl files, built here from a valid model: every one must fail with
SWL_STATUS_INVALID_MODEL and a message, through Model.from_bytes and through a file; none may
crash the process. Also valid-but-unusual files that must load."""
from __future__ import annotations

import copy
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

import swiftlet
from conftest import (REPO, SMALL_B, SMALL_W, assert_close, model_bytes, small_expected,
                      small_model)
from swiftlet import swl


def split_file(data: bytes):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join_file(header, body: bytes, n: int | None = None, pad: bool = True) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        text += b" " * ((-(8 + len(text))) % 64)
    return struct.pack("<Q", len(text) if n is None else n) + text + body


BASE = small_model()
BASE_HEADER, BASE_BODY = split_file(BASE)
BASE_GRAPH = json.loads(BASE_HEADER["__metadata__"]["graph"])
HEADER_END = struct.unpack("<Q", BASE[:8])[0] + 8


def with_header(edit) -> bytes:
    header = copy.deepcopy(BASE_HEADER)
    edit(header)
    return join_file(header, BASE_BODY)


def with_graph(edit) -> bytes:
    graph = copy.deepcopy(BASE_GRAPH)
    edit(graph)
    return with_header(lambda h: h["__metadata__"].__setitem__("graph", json.dumps(graph)))


def two_tensors(off_a, off_b, body_len, shape_a=(4,), dtype_a="F32") -> bytes:
    """Two tensors a and b (not used by the graph: Relu x -> y) with the given offsets."""
    graph = {"inputs": [{"name": "x", "dtype": "F32", "shape": [2]}],
             "outputs": [{"name": "y", "dtype": "F32", "shape": [2]}],
             "nodes": [{"name": "r", "op": "Relu", "inputs": ["x"], "outputs": ["y"]}]}
    header = {"a": {"dtype": dtype_a, "shape": list(shape_a), "data_offsets": list(off_a)},
              "b": {"dtype": "F32", "shape": [4], "data_offsets": list(off_b)},
              "__metadata__": {"format": "swiftlet", "format_version": "1",
                               "graph": json.dumps(graph)}}
    return join_file(header, bytes(body_len))


def one_node(op, attrs, inputs=("x",), consts=None, in_shape=(1, 2, 4, 4), out_shape=None,
             n_outputs=1) -> bytes:
    """A one-node model for attribute checks (output shape as declared, not inferred)."""
    outs = [f"y{i}" for i in range(n_outputs)]
    node = {"name": "n", "op": op, "inputs": list(inputs), "outputs": outs}
    if attrs is not None:
        node["attrs"] = attrs
    return swl.model_bytes(inputs=[swl.value_info("x", "F32", list(in_shape))],
                           outputs=[swl.value_info(o, "F32", list(out_shape or in_shape))
                                    for o in outs],
                           nodes=[node], tensors=consts or {})


CONV_W = {"W": np.ones((2, 2, 3, 3), np.float32)}


def _corpus():
    c = {}
    # -- truncation: every strict prefix is invalid; these points cover each region
    for k in list(range(0, 9)) + [9, 20, HEADER_END // 2, HEADER_END - 1, HEADER_END,
                                  HEADER_END + 1, (HEADER_END + len(BASE)) // 2, len(BASE) - 1]:
        c[f"truncated-{k}"] = BASE[:k]
    # -- header length
    text_len = HEADER_END - 8
    c["header-len-past-eof"] = struct.pack("<Q", len(BASE) - 7) + BASE[8:]
    c["header-len-huge"] = struct.pack("<Q", 2 ** 63 + 5) + BASE[8:]
    c["header-len-over-100MiB"] = struct.pack("<Q", 100 * 2 ** 20 + 1) + BASE[8:]
    c["header-len-zero"] = struct.pack("<Q", 0) + BASE[8:]
    c["header-len-short"] = struct.pack("<Q", text_len - 10) + BASE[8:]
    # -- tensor table
    name = next(k for k in BASE_HEADER if k != "__metadata__")
    last = max((k for k in BASE_HEADER if k != "__metadata__"),
               key=lambda k: BASE_HEADER[k]["data_offsets"][1])
    c["data-offsets-past-eof"] = with_header(
        lambda h: h[last].__setitem__("data_offsets", [h[last]["data_offsets"][0] + 4,
                                                       h[last]["data_offsets"][1] + 4]))
    c["data-offsets-begin-after-end"] = two_tensors((16, 0), (16, 32), 32)
    c["data-offsets-three-ints"] = with_header(
        lambda h: h[name]["data_offsets"].append(0))
    c["data-offsets-floats"] = with_header(
        lambda h: h[name].__setitem__("data_offsets", [float(v) for v in h[name]["data_offsets"]]))
    c["data-offsets-negative"] = two_tensors((-16, 0), (0, 16), 16)
    c["overlapping-offsets"] = two_tensors((0, 16), (8, 24), 24)
    c["same-offsets"] = two_tensors((0, 16), (0, 16), 16)
    c["gap-between-tensors"] = two_tensors((0, 16), (20, 36), 36)
    c["gap-at-start"] = two_tensors((4, 20), (20, 36), 36)
    c["trailing-bytes"] = BASE + b"\0" * 4
    c["shape-product-overflow"] = two_tensors((0, 16), (16, 32), 32, shape_a=(2 ** 40, 2 ** 40))
    c["shape-product-overflow-3d"] = two_tensors((0, 16), (16, 32), 32,
                                                 shape_a=(2 ** 31, 2 ** 31, 2 ** 31))
    c["shape-bytes-overflow"] = two_tensors((0, 16), (16, 32), 32, shape_a=(2 ** 62,))
    c["shape-huge-int"] = two_tensors((0, 16), (16, 32), 32, shape_a=(2 ** 70,))
    c["shape-negative"] = two_tensors((0, 16), (16, 32), 32, shape_a=(-4,))
    c["shape-float"] = two_tensors((0, 16), (16, 32), 32, shape_a=(4.0,))
    c["shape-not-list"] = with_header(lambda h: h[name].__setitem__("shape", 4))
    c["dtype-size-mismatch"] = two_tensors((0, 12), (12, 28), 28)
    c["dtype-size-mismatch-i64"] = two_tensors((0, 16), (16, 32), 32, dtype_a="I64")
    c["unknown-dtype"] = two_tensors((0, 16), (16, 32), 32, dtype_a="Q7")
    c["dtype-F64"] = two_tensors((0, 32), (32, 48), 48, dtype_a="F64")
    c["dtype-missing"] = with_header(lambda h: h[name].pop("dtype"))
    c["tensor-entry-not-object"] = with_header(lambda h: h.__setitem__(name, [1, 2]))
    # -- header JSON
    c["garbage-json"] = join_file(b"{not json", BASE_BODY)
    c["header-not-object-list"] = join_file(b"[1, 2, 3]", b"")
    c["header-not-object-string"] = join_file(b'"swiftlet"', b"")
    c["header-null"] = join_file(b"null", b"")
    c["header-invalid-utf8"] = join_file(b'{"\xff\xfe": 1}', b"")
    c["header-json-then-garbage"] = join_file(json.dumps(BASE_HEADER).encode() + b" }}", BASE_BODY)
    # -- metadata
    c["missing-metadata"] = with_header(lambda h: h.pop("__metadata__"))
    c["metadata-not-object"] = with_header(lambda h: h.__setitem__("__metadata__", "x"))
    c["missing-graph"] = with_header(lambda h: h["__metadata__"].pop("graph"))
    c["missing-format"] = with_header(lambda h: h["__metadata__"].pop("format"))
    c["wrong-format"] = with_header(lambda h: h["__metadata__"].__setitem__("format", "onnx"))
    c["missing-format-version"] = with_header(lambda h: h["__metadata__"].pop("format_version"))
    c["wrong-format-version"] = with_header(
        lambda h: h["__metadata__"].__setitem__("format_version", "2"))
    c["format-version-int"] = with_header(
        lambda h: h["__metadata__"].__setitem__("format_version", 1))
    c["graph-not-json"] = with_header(lambda h: h["__metadata__"].__setitem__("graph", "{oops"))
    c["graph-not-object"] = with_header(lambda h: h["__metadata__"].__setitem__("graph", "[]"))
    c["graph-not-string"] = with_header(
        lambda h: h["__metadata__"].__setitem__("graph", copy.deepcopy(BASE_GRAPH)))
    # -- graph structure
    c["graph-missing-nodes"] = with_graph(lambda g: g.pop("nodes"))
    c["graph-missing-outputs"] = with_graph(lambda g: g.pop("outputs"))
    c["undefined-node-input"] = with_graph(
        lambda g: g["nodes"][1].__setitem__("inputs", ["nope"]))
    c["cycle"] = with_graph(lambda g: g["nodes"][0].__setitem__("inputs", ["r", "W", "b"]))
    c["self-loop"] = with_graph(lambda g: g["nodes"][1].__setitem__("inputs", ["r"]))
    c["unknown-op"] = with_graph(lambda g: g["nodes"][1].__setitem__("op", "Frobnicate"))
    c["output-not-produced"] = with_graph(lambda g: g["outputs"][1].__setitem__("name", "zz"))
    c["duplicate-node-output"] = with_graph(
        lambda g: g["nodes"][1].__setitem__("outputs", ["y"]))
    c["node-output-is-tensor-name"] = with_graph(
        lambda g: g["nodes"][1].__setitem__("outputs", ["W"]))
    c["graph-input-is-tensor-name"] = with_graph(
        lambda g: g["inputs"][0].__setitem__("name", "W") or
        g["nodes"][0].__setitem__("inputs", ["W", "W", "b"]))
    c["graph-input-bad-dtype"] = with_graph(lambda g: g["inputs"][0].__setitem__("dtype", "F64"))
    c["graph-input-negative-dim"] = with_graph(
        lambda g: g["inputs"][0].__setitem__("shape", ["batch", -4]))
    c["node-missing-op"] = with_graph(lambda g: g["nodes"][1].pop("op"))
    c["node-inputs-not-list"] = with_graph(lambda g: g["nodes"][1].__setitem__("inputs", "y"))
    # -- attributes
    c["conv-strides-zero"] = one_node("Conv", {"strides": [0, 1]}, ("x", "W"), CONV_W,
                                      out_shape=(1, 2, 2, 2))
    c["conv-group-zero"] = one_node("Conv", {"group": 0}, ("x", "W"), CONV_W,
                                    out_shape=(1, 2, 2, 2))
    c["conv-pads-negative"] = one_node("Conv", {"pads": [-1, 0, 0, 0]}, ("x", "W"), CONV_W,
                                       out_shape=(1, 2, 2, 2))
    c["conv-pads-wrong-length"] = one_node("Conv", {"pads": [1, 1]}, ("x", "W"), CONV_W,
                                           out_shape=(1, 2, 2, 2))
    c["conv-strides-string"] = one_node("Conv", {"strides": "1,1"}, ("x", "W"), CONV_W,
                                        out_shape=(1, 2, 2, 2))
    c["conv-weight-rank3"] = one_node("Conv", None, ("x", "W"),
                                      {"W": np.ones((2, 2, 3), np.float32)},
                                      out_shape=(1, 2, 2, 2))
    c["conv-weight-missing"] = one_node("Conv", None, ("x",), out_shape=(1, 2, 2, 2))
    c["gemm-transB-string"] = one_node("Gemm", {"transB": "yes"}, ("x", "x"), in_shape=(2, 2))
    c["maxpool-no-kernel"] = one_node("MaxPool", None, out_shape=(1, 2, 3, 3))
    c["maxpool-kernel-zero"] = one_node("MaxPool", {"kernel_shape": [0, 2]},
                                        out_shape=(1, 2, 3, 3))
    c["reshape-no-shape"] = one_node("Reshape", None)
    c["concat-no-axis"] = one_node("Concat", None)
    c["gelu-bad-approximate"] = one_node("Gelu", {"approximate": "cubic"})
    c["slice-no-ends"] = one_node("Slice", {"starts": [0]})
    c["slice-step-zero"] = one_node("Slice", {"starts": [0], "ends": [1], "steps": [0]})
    c["relu-two-inputs"] = one_node("Relu", None, ("x", "x"))
    c["attrs-not-object"] = one_node("Relu", [1, 2])
    return c


CORPUS = _corpus()


def _load(data: bytes, how: str, tmp_path):
    if how == "bytes":
        return swiftlet.Model.from_bytes(data)
    path = tmp_path / "bad.swl"
    path.write_bytes(data)
    return swiftlet.Model(path)


def test_base_model_is_valid(tmp_path):
    x = np.ones((2, 4), np.float32)
    for how in ("bytes", "file"):
        with _load(BASE, how, tmp_path) as m, m.session() as s:
            assert_close(s.run({"x": x})["y"], small_expected(x)["y"])
    # the corpus helpers build valid files when nothing is wrong
    for ok in (two_tensors((0, 16), (16, 32), 32),
               one_node("Conv", None, ("x", "W"), CONV_W, out_shape=(1, 2, 2, 2))):
        swiftlet.Model.from_bytes(ok).close()


@pytest.mark.parametrize("how", ["bytes", "file"])
@pytest.mark.parametrize("case", list(CORPUS))
def test_invalid_model(case, how, tmp_path):
    with pytest.raises(swiftlet.SwiftletError) as e:
        _load(CORPUS[case], how, tmp_path).close()
    assert e.value.status_name == "SWL_STATUS_INVALID_MODEL", str(e.value)
    assert e.value.message.strip()


def test_every_prefix_is_invalid():
    """All strict prefixes of a valid file (any cut point) fail cleanly."""
    wrong = []
    for k in range(len(BASE)):
        try:
            swiftlet.Model.from_bytes(BASE[:k]).close()
            wrong.append((k, "loaded"))
        except swiftlet.SwiftletError as e:
            if e.status != swiftlet.STATUS_INVALID_MODEL or not e.message:
                wrong.append((k, e.status_name))
    assert not wrong, f"prefixes not rejected with INVALID_MODEL: {wrong[:10]}"


# ---- valid but unusual files ---------------------------------------------------------------------
def _valid_variants():
    v = {}
    text = json.dumps(BASE_HEADER).encode()
    if (8 + len(text)) % 4 == 0:
        text += b" "          # make the data section start off a 4-byte boundary
    v["unpadded-misaligned-data"] = join_file(text, BASE_BODY, pad=False)
    v["header-padded-with-extra-spaces"] = join_file(
        json.dumps(BASE_HEADER).encode() + b" " * 200, BASE_BODY, pad=True)
    reordered = {"__metadata__": BASE_HEADER["__metadata__"]}
    reordered.update({k: v2 for k, v2 in reversed(list(BASE_HEADER.items()))
                      if k != "__metadata__"})
    v["metadata-first-keys-reversed"] = join_file(reordered, BASE_BODY)
    v["extra-model-metadata"] = with_header(
        lambda h: h["__metadata__"].update({"model.description": "ünïcödé ✓", "model.x": ""}))
    v["nodes-reversed"] = with_graph(lambda g: g["nodes"].reverse())
    extra = {"W": SMALL_W, "b": SMALL_B,
             "unused.f16": np.arange(3, dtype=np.float16), "unused.i8": np.arange(5, dtype=np.int8),
             "unused.i64": np.arange(2, dtype=np.int64)}
    v["unused-tensors-of-other-dtypes"] = model_bytes(
        [swl.node("Gemm", ["x", "W", "b"], ["y"], transB=1), swl.node("Relu", ["y"], ["r"])],
        {"x": (np.float32, ("batch", 4))},
        {"y": (np.float32, ("batch", 3)), "r": (np.float32, ("batch", 3))}, extra)
    return v


VALID = _valid_variants()


@pytest.mark.parametrize("how", ["bytes", "file"])
@pytest.mark.parametrize("case", list(VALID))
def test_valid_variants(case, how, tmp_path):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    with _load(VALID[case], how, tmp_path) as m, m.session("cpu") as s:
        out = s.run({"x": x})
    assert_close(out["y"], small_expected(x)["y"])
    assert_close(out["r"], small_expected(x)["r"])


# ---- fuzzing, in a child process so that a crash is a failure, not the end of the run ----------
FUZZ = r"""
import random, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, swiftlet
base = open(sys.argv[2], "rb").read()
rng = random.Random(int(sys.argv[3]))
x = np.ones((2, 4), np.float32)
loaded = 0
for i in range(int(sys.argv[4])):
    data = bytearray(base)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        pos = rng.randrange(len(data))
        data[pos] = rng.choice([rng.randrange(256), 0, 0xFF, ord("9"), ord('"'), ord("-")])
    if rng.random() < 0.2:
        data = data[:rng.randrange(len(data))]
    print(i, flush=True, file=sys.stderr)
    try:
        m = swiftlet.Model.from_bytes(bytes(data))
    except swiftlet.SwiftletError as e:
        assert e.status == swiftlet.STATUS_INVALID_MODEL and e.message, (i, e)
        continue
    loaded += 1
    try:
        with m, m.session("reference") as s:
            s.run({"x": x})
    except swiftlet.SwiftletError as e:
        assert e.message, (i, e)
    except (TypeError, ValueError, KeyError):
        pass   # the mutated graph no longer takes x [2,4]: a Python-side rejection
print("done", loaded)
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz_no_crash(seed, tmp_path):
    base = tmp_path / "base.swl"
    base.write_bytes(BASE)
    proc = subprocess.run([sys.executable, "-c", FUZZ, str(REPO / "python"), str(base),
                           str(seed), "400"], capture_output=True, text=True, timeout=300)
    last = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
    assert proc.returncode == 0 and "done" in proc.stdout, \
        f"rc={proc.returncode}, last case {last}, stderr tail: {proc.stderr[-1500:]}"


# ---- hostile integer attributes: valid JSON, absurd values (overflow bait) ----------------------
BIG = 2 ** 62
HOSTILE = {  # name: (op, attrs, input shape, output rank, consts)
    "conv-pads-overflow": ("Conv", {"pads": [BIG, 0, BIG, 0]}, (1, 1, 4, 4), 4, "W"),
    "conv-dilation-overflow": ("Conv", {"dilations": [BIG, 1]}, (1, 1, 4, 4), 4, "W"),
    "conv-strides-huge": ("Conv", {"strides": [BIG, BIG]}, (1, 1, 4, 4), 4, "W"),
    "conv-pads-huge": ("Conv", {"pads": [BIG, BIG, 0, 0]}, (1, 1, 4, 4), 4, "W"),
    "conv-group-huge": ("Conv", {"group": BIG}, (1, 1, 4, 4), 4, "W"),
    "maxpool-kernel-huge": ("MaxPool", {"kernel_shape": [BIG, BIG]}, (1, 1, 4, 4), 4, None),
    "maxpool-kernel-and-pads-huge": ("MaxPool", {"kernel_shape": [BIG, BIG],
                                                 "pads": [BIG - 1] * 4}, (1, 1, 4, 4), 4, None),
    "avgpool-kernel-and-pads-huge": ("AveragePool", {"kernel_shape": [BIG, 2],
                                                     "pads": [BIG - 1, 0, BIG - 1, 0],
                                                     "count_include_pad": 1}, (1, 1, 4, 4), 4, None),
    "avgpool-strides-huge-ceil": ("AveragePool", {"kernel_shape": [2, 2], "strides": [BIG, BIG],
                                                  "ceil_mode": 1}, (1, 1, 4, 4), 4, None),
    "reshape-huge": ("Reshape", {"shape": [BIG, BIG, 4]}, (4,), 3, None),
    "reshape-huge-with-minus1": ("Reshape", {"shape": [BIG, -1]}, (4,), 2, None),
    "slice-extremes": ("Slice", {"starts": [-2 ** 63], "ends": [2 ** 63 - 1],
                                 "steps": [-2 ** 63]}, (4,), 1, None),
    "slice-extremes-positive-step": ("Slice", {"starts": [-2 ** 63], "ends": [2 ** 63 - 1],
                                               "steps": [2 ** 63 - 1]}, (4,), 1, None),
    "slice-step-min": ("Slice", {"starts": [3], "ends": [-2 ** 63], "steps": [-2 ** 63]},
                       (4,), 1, None),
    "slice-huge-step-2d": ("Slice", {"starts": [0], "ends": [4], "axes": [0], "steps": [BIG]},
                           (4, 4), 2, None),
    "gather-axis-huge": ("Gather", {"axis": BIG}, (4,), 1, "idx"),
    "flatten-axis-huge": ("Flatten", {"axis": -BIG}, (2, 3), 2, None),
    "softmax-axis-huge": ("Softmax", {"axis": -2 ** 63}, (2, 3), 2, None),
    "concat-axis-huge": ("Concat", {"axis": -2 ** 63}, (2, 3), 2, None),
    "split-sizes-overflow": ("Split", {"split": [BIG, BIG]}, (4,), 1, None),
    "unsqueeze-axis-huge": ("Unsqueeze", {"axes": [BIG]}, (4,), 2, None),
    "squeeze-axis-min": ("Squeeze", {"axes": [-2 ** 63]}, (1, 4), 1, None),
    "transpose-perm-huge": ("Transpose", {"perm": [BIG, 0]}, (2, 3), 2, None),
    "layernorm-axis-min": ("LayerNormalization", {"axis": -2 ** 63}, (2, 3), 2, "scale"),
}

HOSTILE_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, swiftlet
data = open(sys.argv[2], "rb").read()
shape = tuple(int(d) for d in sys.argv[3].split(",") if d)
try:
    m = swiftlet.Model.from_bytes(data)
except swiftlet.SwiftletError as e:
    assert e.message, e
    print("rejected at load:", e.status_name)
    sys.exit(0)
for backend in ("reference", "cpu"):
    try:
        with m.session(backend) as s:
            s.run({"x": np.ones(shape, np.float32)})
        print(backend, "ran")
    except swiftlet.SwiftletError as e:
        assert e.message, e
        print(backend, e.status_name)
"""


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_attributes_never_crash(case, tmp_path):
    """Valid JSON, absurd integers: loading or running may fail with a status, never trap.
    (In a child process, so that a crash is reported as this test's failure.)"""
    op, attrs, shape, out_rank, const = HOSTILE[case]
    consts = {"W": np.ones((1, 1, 3, 3), np.float32), "idx": np.zeros(1, np.int64),
              "scale": np.ones(3, np.float32)}
    inputs = ["x"] + ([const] if const else [])
    n_out = 2 if op == "Split" else 1
    outs = [f"y{i}" for i in range(n_out)]
    data = swl.model_bytes(
        inputs=[swl.value_info("x", "F32", list(shape))],
        outputs=[swl.value_info(o, "F32", [f"{o}_d{j}" for j in range(out_rank)]) for o in outs],
        nodes=[swl.node(op, inputs, outs, name="n", **attrs)],
        tensors={const: consts[const]} if const else {})
    path = tmp_path / "hostile.swl"
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", HOSTILE_SCRIPT, str(REPO / "python"), str(path),
                           ",".join(map(str, shape))], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, \
        f"{op} {attrs}: exit {proc.returncode} (a trap is -4/SIGILL); {proc.stderr[-800:]}"
