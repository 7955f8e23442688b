"""The ONNX importer (Sources/CoreRuntime/Import/ONNX) against onnxruntime.

Every model here is built with onnx.helper (nothing is downloaded), checked with
onnx.checker (full_check: strict shape inference), and run by onnxruntime (CPU, ORT_ENABLE_ALL) and
by Swiftlet, which opens the .onnx file directly (`swiftlet.Model(path)`), on the "cpu" and
"reference" backends. Covered:
1. each supported op / mapping, one small model each, opset-13 and opset-21 variants where the op
   exists in both; dynamic batch dims (dim_param);
2. the bundled digits models converted to ONNX (bench/digits_vs_onnxruntime.py's converter);
3. `swiftlet import` (the CLI);
4. unsupported ops, domains, opsets and attributes: SWL_STATUS_UNSUPPORTED naming node, op, opset;
5. malformed protobuf (every truncation, seeded byte flips), in a subprocess so a crash fails;
6. external data: read from the model's folder only.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")   # listed in python/requirements-test.txt
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import swiftlet  # noqa: E402
from conftest import BACKENDS, DATA, MODELS, REPO, require_file  # noqa: E402

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63
BOTH = (13, 21)   # the opsets at both ends of the supported range

# Comparison with onnxruntime: |swiftlet − ort| ≤ TOL · max|ort| per output. The two runtimes sum
# in different orders (blocking, SIMD lanes, fused kernels), so for sums of products their fp32
# results differ by up to ~n·2⁻²⁴ of the terms' magnitude (≈ √n·2⁻²⁴ for random signs); for
# n ≥ 256 terms that can exceed 1e-5 of the output's max, so reductions that long get 1e-4.
# A wrong index, a dropped term or a wrong attribute is off by whole terms, far outside either.
TOL = 1e-5
TOL_LONG_REDUCTION = 1e-4
LONG_REDUCTION = 256


# ---- building models --------------------------------------------------------------------------
def vi(name: str, shape, elem: int = F32):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name: str, array) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def build(nodes, inputs: Mapping[str, object], outputs: Sequence[object], inits=(), opset=17,
          extra_opsets=(), name="g", check=True) -> "onnx.ModelProto":
    """inputs: name → example array (declares its dtype and shape) or a ValueInfoProto;
    outputs: names (shapes filled in by strict shape inference) or ValueInfoProtos."""
    def input_info(n, spec):
        if isinstance(spec, onnx.ValueInfoProto):
            return spec
        arr = np.asarray(spec)
        return vi(n, list(arr.shape), helper.np_dtype_to_tensor_dtype(arr.dtype))

    graph = helper.make_graph(
        list(nodes), name, [input_info(n, s) for n, s in inputs.items()],
        [o if isinstance(o, onnx.ValueInfoProto) else helper.make_tensor_value_info(o, 0, None)
         for o in outputs], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    *extra_opsets])
    if not check:
        return model
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    del model.graph.output[:]
    model.graph.output.extend(inferred.graph.output)
    onnx.checker.check_model(model, full_check=True)
    return model


def one_node(op: str, feeds: Mapping[str, np.ndarray], inits: Mapping[str, np.ndarray] = {},
             *, opset: int, inputs: Optional[Sequence[str]] = None, outputs=("y",),
             **attrs) -> "onnx.ModelProto":
    """A model of one node named "node0"; its inputs default to the feeds then the inits."""
    inputs = list(feeds) + list(inits) if inputs is None else list(inputs)
    node = helper.make_node(op, inputs, list(outputs), name="node0", **attrs)
    return build([node], feeds, list(outputs), [init(n, a) for n, a in inits.items()], opset)


def randn(rng, *shape, scale=1.0) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape) * scale, dtype=np.float32)


# ---- running and comparing --------------------------------------------------------------------
def ort_run(model: "onnx.ModelProto", feeds) -> Dict[str, np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, dict(feeds))))


def swiftlet_run(path, feeds, backend: str) -> Dict[str, np.ndarray]:
    with swiftlet.Model(path) as model, model.session(backend=backend, threads=1) as session:
        return session.run(dict(feeds))


def assert_matches(got: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray],
                   terms: int = 0, what: str = "") -> None:
    """Same output names, shapes, dtypes; integers exact, floats within the tolerance above."""
    assert sorted(got) == sorted(ref), f"{what}: outputs {sorted(got)}, expected {sorted(ref)}"
    tol = TOL_LONG_REDUCTION if terms >= LONG_REDUCTION else TOL
    for name, expected in ref.items():
        actual = got[name]
        label = f"{what} output {name!r}"
        assert actual.shape == expected.shape, f"{label}: shape {actual.shape}, expected {expected.shape}"
        assert actual.dtype == expected.dtype, f"{label}: dtype {actual.dtype}, expected {expected.dtype}"
        if expected.dtype.kind != "f":
            assert np.array_equal(actual, expected), f"{label}: {actual} != {expected}"
            continue
        if expected.size == 0:
            continue
        nan = np.isnan(expected)
        assert np.array_equal(np.isnan(actual), nan), f"{label}: NaN pattern differs"
        a, e = actual[~nan].astype(np.float64), expected[~nan].astype(np.float64)
        inf = np.isinf(e)
        assert np.array_equal(a[inf], e[inf]), f"{label}: infinities differ"
        a, e = a[~inf], e[~inf]
        if e.size == 0:
            continue
        scale = float(np.max(np.abs(e)))
        err = np.abs(a - e)
        worst = int(np.argmax(err))
        assert err[worst] <= tol * scale, (
            f"{label}: max |Δ| {err[worst]:.3g} > {tol:g} × max|ref| {scale:.3g} (got "
            f"{a[worst]!r}, onnxruntime {e[worst]!r} at flat index {worst} of the finite values)")


def assert_unsupported(error: "swiftlet.SwiftletError", *parts: str) -> None:
    assert error.status_name == "SWL_STATUS_UNSUPPORTED", f"{error.status_name}: {error.message}"
    for part in parts:
        assert part in error.message, f"{part!r} not in the message {error.message!r}"


# ---- 1. one model per op / mapping ------------------------------------------------------------
Case = Tuple["onnx.ModelProto", Dict[str, np.ndarray], int]   # model, feeds, reduction length
CASES: Dict[str, Callable[[np.random.Generator], Case]] = {}


def case(name: str, opsets: Sequence[int] = (17,)):
    """Registers fn(rng, opset) → (model, feeds[, reduction terms]) as "name-opsetN" cases."""
    def register(fn):
        for opset in opsets:
            def make(rng, fn=fn, opset=opset):
                result = fn(rng, opset)
                return result if len(result) == 3 else (*result, 0)
            CASES[f"{name}-opset{opset}"] = make
        return fn
    return register


def single(op, feeds, inits={}, **kw):
    """Shorthand: (one_node model, feeds)."""
    return one_node(op, feeds, inits, **kw), feeds


# Shape, Cast and integer arithmetic (shape computations; computed when a run is planned)
@case("shape-start-end", (15, 21))
def _(rng, opset):
    return single("Shape", {"x": randn(rng, 2, 3, 4, 5)}, opset=opset, start=1, end=-1)


@case("shape-whole", BOTH)
def _(rng, opset):
    return single("Shape", {"x": randn(rng, 3, 1, 7)}, opset=opset)


@case("cast-float-to-int64", BOTH)
def _(rng, opset):
    x = np.array([-2.7, -0.5, 0.0, 0.5, 2.7, 1e6, -1e6], np.float32)
    return single("Cast", {"x": x}, opset=opset, to=TensorProto.INT64)


@case("cast-int64-to-float", BOTH)
def _(rng, opset):
    return single("Cast", {"x": np.array([-3, 0, 7, 1 << 20], np.int64)}, opset=opset, to=TensorProto.FLOAT)


@case("erf", BOTH)
def _(rng, opset):
    return single("Erf", {"x": np.concatenate([randn(rng, 40, scale=2.0), np.array([0, -4, 4, 1e-8], np.float32)])},
                  opset=opset)


@case("int64-div-truncates", BOTH)
def _(rng, opset):
    return single("Div", {"a": np.array([7, -7, 6, -1], np.int64)}, {"b": np.array([2, 2, -4, 3], np.int64)},
                  opset=opset)


@case("int64-mul-sub-add-broadcast", BOTH)
def _(rng, opset):
    nodes = [helper.make_node("Mul", ["a", "b"], ["m"], name="mul"),
             helper.make_node("Sub", ["m", "b"], ["s"], name="sub"),
             helper.make_node("Add", ["s", "a"], ["y"], name="add")]
    feeds = {"a": np.array([[1, -2, 3]], np.int64), "b": np.array([[4], [5]], np.int64)}
    return build(nodes, feeds, ["y"], opset=opset), feeds


# Gemm
@case("gemm-transB-alpha-beta", BOTH)
def _(rng, opset):
    return single("Gemm", {"a": randn(rng, 3, 5)}, {"b": randn(rng, 4, 5), "c": randn(rng, 4)},
                  opset=opset, transB=1, alpha=0.5, beta=2.0)


@case("gemm-transA-C-column", BOTH)
def _(rng, opset):
    return single("Gemm", {"a": randn(rng, 5, 3)}, {"b": randn(rng, 5, 4), "c": randn(rng, 3, 1)},
                  opset=opset, transA=1)


@case("gemm-noC-1x1", BOTH)
def _(rng, opset):
    return single("Gemm", {"a": randn(rng, 1, 1), "b": randn(rng, 1, 1)}, opset=opset)


@case("gemm-K300")
def _(rng, opset):
    m, feeds = single("Gemm", {"a": randn(rng, 2, 300)},
                      {"b": randn(rng, 300, 7), "c": randn(rng, 1, 7)}, opset=opset)
    return m, feeds, 300


# MatMul
@case("matmul-batch-broadcast", BOTH)
def _(rng, opset):
    return single("MatMul", {"a": randn(rng, 2, 1, 3, 5)}, {"b": randn(rng, 4, 5, 6)}, opset=opset)


@case("matmul-vector", BOTH)
def _(rng, opset):
    return single("MatMul", {"a": randn(rng, 5)}, {"b": randn(rng, 5, 3)}, opset=opset)


@case("matmul-1x1-by-1x7")
def _(rng, opset):
    return single("MatMul", {"a": randn(rng, 1, 1), "b": randn(rng, 1, 7)}, opset=opset)


@case("matmul-K256")
def _(rng, opset):
    m, feeds = single("MatMul", {"a": randn(rng, 3, 256)}, {"b": randn(rng, 256, 4)}, opset=opset)
    return m, feeds, 256


# Conv
@case("conv-pads-strides-dilations", BOTH)
def _(rng, opset):
    return single("Conv", {"x": randn(rng, 2, 3, 9, 8)},
                  {"w": randn(rng, 4, 3, 3, 2), "b": randn(rng, 4)}, opset=opset,
                  pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2], kernel_shape=[3, 2])


@case("conv-group2-nobias", BOTH)
def _(rng, opset):
    return single("Conv", {"x": randn(rng, 1, 4, 6, 6)}, {"w": randn(rng, 6, 2, 3, 3)},
                  opset=opset, group=2, pads=[1, 1, 1, 1])


@case("conv-depthwise")
def _(rng, opset):
    return single("Conv", {"x": randn(rng, 1, 3, 5, 5)},
                  {"w": randn(rng, 3, 1, 3, 3), "b": randn(rng, 3)}, opset=opset, group=3)


@case("conv-auto_pad-VALID", BOTH)
def _(rng, opset):
    return single("Conv", {"x": randn(rng, 1, 2, 7, 7)},
                  {"w": randn(rng, 3, 2, 3, 3), "b": randn(rng, 3)}, opset=opset,
                  auto_pad="VALID", strides=[2, 2])


@case("conv-kernel-equals-input")
def _(rng, opset):
    return single("Conv", {"x": randn(rng, 2, 2, 3, 4)}, {"w": randn(rng, 5, 2, 3, 4)},
                  opset=opset)


@case("conv-1x1-input")
def _(rng, opset):
    return single("Conv", {"x": randn(rng, 1, 1, 1, 1)}, {"w": randn(rng, 2, 1, 1, 1)},
                  opset=opset)


@case("conv-C32-3x3")
def _(rng, opset):
    m, feeds = single("Conv", {"x": randn(rng, 1, 32, 6, 5)},
                      {"w": randn(rng, 4, 32, 3, 3), "b": randn(rng, 4)}, opset=opset,
                      pads=[1, 1, 1, 1])
    return m, feeds, 32 * 9


# Pooling
@case("maxpool-pads-strides-ceil", BOTH)
def _(rng, opset):
    return single("MaxPool", {"x": randn(rng, 2, 3, 9, 7)}, opset=opset, kernel_shape=[3, 2],
                  strides=[2, 2], pads=[1, 1, 1, 0], ceil_mode=1)


@case("maxpool-negative-values-padded", BOTH)
def _(rng, opset):   # padding never wins the max
    return single("MaxPool", {"x": -np.abs(randn(rng, 1, 2, 4, 4)) - 1}, opset=opset,
                  kernel_shape=[3, 3], pads=[2, 2, 2, 2], strides=[1, 1])


@case("maxpool-auto_pad-VALID-dilations1", BOTH)
def _(rng, opset):
    return single("MaxPool", {"x": randn(rng, 1, 1, 6, 5)}, opset=opset, kernel_shape=[2, 2],
                  strides=[2, 2], auto_pad="VALID", dilations=[1, 1])


@case("maxpool-kernel-1x1")
def _(rng, opset):
    return single("MaxPool", {"x": randn(rng, 1, 2, 3, 3)}, opset=opset, kernel_shape=[1, 1])


@case("averagepool-count_include_pad0", BOTH)
def _(rng, opset):
    return single("AveragePool", {"x": randn(rng, 2, 3, 7, 6)}, opset=opset,
                  kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])


@case("averagepool-count_include_pad1", BOTH)
def _(rng, opset):
    return single("AveragePool", {"x": randn(rng, 1, 2, 5, 5)}, opset=opset,
                  kernel_shape=[2, 3], strides=[1, 2], pads=[1, 0, 0, 1], count_include_pad=1)


@case("averagepool-ceil_mode", BOTH)
def _(rng, opset):
    return single("AveragePool", {"x": randn(rng, 1, 2, 6, 7)}, opset=opset,
                  kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)


@case("averagepool-auto_pad-VALID")
def _(rng, opset):
    return single("AveragePool", {"x": randn(rng, 1, 3, 5, 4)}, opset=opset,
                  kernel_shape=[2, 2], auto_pad="VALID")


@case("globalaveragepool", BOTH)
def _(rng, opset):
    return single("GlobalAveragePool", {"x": randn(rng, 2, 3, 5, 4)}, opset=opset)


@case("globalaveragepool-1x1")
def _(rng, opset):
    return single("GlobalAveragePool", {"x": randn(rng, 1, 3, 1, 1)}, opset=opset)


@case("globalaveragepool-272-terms")
def _(rng, opset):
    m, feeds = single("GlobalAveragePool", {"x": randn(rng, 1, 2, 17, 16) + 3}, opset=opset)
    return m, feeds, 17 * 16


# Normalization
def _bn_params(rng, c):
    return {"scale": randn(rng, c), "bias": randn(rng, c), "mean": randn(rng, c),
            "var": np.abs(randn(rng, c)) + 0.1}


@case("batchnorm-momentum-epsilon", BOTH)
def _(rng, opset):
    return single("BatchNormalization", {"x": randn(rng, 2, 3, 4, 5)}, _bn_params(rng, 3),
                  opset=opset, epsilon=1e-3, momentum=0.9)


@case("batchnorm-rank2")
def _(rng, opset):
    return single("BatchNormalization", {"x": randn(rng, 4, 6)}, _bn_params(rng, 6), opset=opset)


@case("conv-then-batchnorm", BOTH)   # folded into the Conv by Swiftlet's optimizer
def _(rng, opset):
    params = _bn_params(rng, 4)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", *params], ["y"], name="bn",
                              epsilon=1e-5)]
    inits = [init("w", randn(rng, 4, 2, 3, 3)), init("b", randn(rng, 4))]
    inits += [init(n, a) for n, a in params.items()]
    feeds = {"x": randn(rng, 2, 2, 5, 5)}
    return build(nodes, feeds, ["y"], inits, opset), feeds


@case("layernorm-last-axis", (17, 21))
def _(rng, opset):
    return single("LayerNormalization", {"x": randn(rng, 2, 3, 8, scale=3) + 1},
                  {"scale": randn(rng, 8), "b": randn(rng, 8)}, opset=opset, epsilon=1e-5)


@case("layernorm-axis1-nobias", (17, 21))
def _(rng, opset):
    return single("LayerNormalization", {"x": randn(rng, 2, 3, 4)}, {"scale": randn(rng, 3, 4)},
                  opset=opset, axis=1, epsilon=1e-3)


@case("layernorm-axis-neg2-stash_type1", (17, 21))
def _(rng, opset):
    return single("LayerNormalization", {"x": randn(rng, 3, 4, 5)},
                  {"scale": randn(rng, 4, 5), "b": randn(rng, 4, 5)}, opset=opset, axis=-2,
                  stash_type=1)


@case("layernorm-300-terms")
def _(rng, opset):
    m, feeds = single("LayerNormalization", {"x": randn(rng, 2, 300) + 2},
                      {"scale": randn(rng, 300), "b": randn(rng, 300)}, opset=opset)
    return m, feeds, 300


# Element-wise
def _extremes(rng, *shape):
    x = randn(rng, *shape, scale=3)
    x.flat[:6] = [0.0, -0.0, 30.0, -30.0, 88.0, -88.0]
    return x


for _op in ("Relu", "Sigmoid", "Tanh"):
    @case(_op.lower(), BOTH)
    def _(rng, opset, op=_op):
        return single(op, {"x": _extremes(rng, 3, 7)}, opset=opset)


@case("gelu-erf", (20, 21))
def _(rng, opset):
    return single("Gelu", {"x": _extremes(rng, 4, 5)}, opset=opset)


@case("gelu-tanh", (20, 21))
def _(rng, opset):
    return single("Gelu", {"x": _extremes(rng, 4, 5)}, opset=opset, approximate="tanh")


for _op in ("Add", "Sub", "Mul", "Div"):
    @case(f"{_op.lower()}-broadcast", BOTH)
    def _(rng, opset, op=_op):
        b = randn(rng, 3, 1)
        if op == "Div":
            b = np.sign(b) * (np.abs(b) + 0.5)
        return single(op, {"a": randn(rng, 2, 3, 4), "b": b.astype(np.float32)}, opset=opset)

    @case(f"{_op.lower()}-scalar-initializer-first")
    def _(rng, opset, op=_op):
        return single(op, {"a": randn(rng, 1, 5) + 3}, {"k": np.float32(1.5)}, opset=opset,
                      inputs=["k", "a"])


# Sqrt, Pow and reductions (the decomposed LayerNorm's ops; ReduceMean ends dynamo-exported CNNs)
@case("sqrt", BOTH)
def _(rng, opset):
    return single("Sqrt", {"x": np.abs(randn(rng, 3, 5)) + 0.01}, opset=opset)


@case("pow-square-and-cube", BOTH)
def _(rng, opset):
    return single("Pow", {"x": np.abs(randn(rng, 2, 3, 4)) + 0.1}, {"e": np.array([2, 3, 1, 0.5], np.float32)},
                  opset=opset)


def _reduce(op, rng, opset, x, axes, **attrs):
    """axes as an attribute where the opset has one (ReduceMean < 18), else as input 1."""
    if axes is None:
        return single(op, {"x": x}, opset=opset, **attrs)
    if op == "ReduceMean" and opset < 18:
        return single(op, {"x": x}, opset=opset, axes=axes, **attrs)
    return single(op, {"x": x}, {"axes": np.array(axes, np.int64)}, opset=opset, **attrs)


for _op in ("ReduceMean", "ReduceSum"):
    @case(f"{_op.lower()}-last-axis-keepdims", BOTH)
    def _(rng, opset, op=_op):
        return _reduce(op, rng, opset, randn(rng, 2, 3, 7), [-1])

    @case(f"{_op.lower()}-two-axes-dropped", BOTH)
    def _(rng, opset, op=_op):
        return _reduce(op, rng, opset, randn(rng, 2, 3, 4, 5), [0, 2], keepdims=0)

    @case(f"{_op.lower()}-all-axes", BOTH)
    def _(rng, opset, op=_op):
        return _reduce(op, rng, opset, randn(rng, 3, 4), None)

    @case(f"{_op.lower()}-spatial-long", (18, 21))
    def _(rng, opset, op=_op):
        x = randn(rng, 2, 3, 17, 19)
        return (*_reduce(op, rng, opset, x, [2, 3]), 17 * 19)


@case("reducesum-empty-axes-noop", (18, 21))
def _(rng, opset):
    return single("ReduceSum", {"x": randn(rng, 2, 3)}, {"axes": np.zeros(0, np.int64)}, opset=opset,
                  noop_with_empty_axes=1)


# Shapes and data movement
@case("flatten-axis1", BOTH)
def _(rng, opset):
    return single("Flatten", {"x": randn(rng, 2, 3, 4)}, opset=opset)


@case("flatten-axis0")
def _(rng, opset):
    return single("Flatten", {"x": randn(rng, 2, 3, 4)}, opset=opset, axis=0)


@case("flatten-axis-rank")
def _(rng, opset):
    return single("Flatten", {"x": randn(rng, 2, 3, 4)}, opset=opset, axis=3)


@case("flatten-axis-neg1")
def _(rng, opset):
    return single("Flatten", {"x": randn(rng, 2, 3, 4)}, opset=opset, axis=-1)


@case("softmax-default-axis", BOTH)
def _(rng, opset):
    return single("Softmax", {"x": randn(rng, 2, 3, 5, scale=30)}, opset=opset)


@case("softmax-axis0", BOTH)
def _(rng, opset):
    return single("Softmax", {"x": randn(rng, 4, 3, scale=5)}, opset=opset, axis=0)


@case("softmax-axis1-one-element")
def _(rng, opset):
    return single("Softmax", {"x": randn(rng, 2, 1, 3)}, opset=opset, axis=1)


@case("gather-axis0-2d-negative-indices", BOTH)
def _(rng, opset):
    return single("Gather", {"x": randn(rng, 5, 4)},
                  {"i": np.array([[0, -1], [3, 2]], np.int64)}, opset=opset)


@case("gather-axis1-int32")
def _(rng, opset):
    return single("Gather", {"x": randn(rng, 2, 6, 3)}, {"i": np.array([2, -6, 5], np.int32)},
                  opset=opset, axis=1)


@case("gather-scalar-index", BOTH)
def _(rng, opset):
    return single("Gather", {"x": randn(rng, 3, 4)}, {"i": np.array(-1, np.int64)}, opset=opset,
                  axis=1)


@case("gather-int64-data-fed-indices")
def _(rng, opset):
    return single("Gather", {"x": rng.integers(-99, 99, (4, 3)).astype(np.int64),
                             "i": np.array([3, 0, 0], np.int64)}, opset=opset)


@case("transpose-default-perm", BOTH)
def _(rng, opset):
    return single("Transpose", {"x": randn(rng, 2, 3, 4)}, opset=opset)


@case("transpose-nchw-to-nhwc", BOTH)
def _(rng, opset):
    return single("Transpose", {"x": randn(rng, 2, 3, 1, 5)}, opset=opset, perm=[0, 2, 3, 1])


@case("concat-three-one-initializer", BOTH)
def _(rng, opset):
    return single("Concat", {"a": randn(rng, 2, 1, 3), "b": randn(rng, 2, 1, 2)},
                  {"c": randn(rng, 2, 1, 1)}, opset=opset, axis=-1)


@case("concat-axis0-single-input")
def _(rng, opset):
    return single("Concat", {"a": randn(rng, 3, 2)}, opset=opset, axis=0)


@case("identity", BOTH)
def _(rng, opset):
    return single("Identity", {"x": randn(rng, 3, 2)}, opset=opset)


@case("dropout", BOTH)
def _(rng, opset):
    return single("Dropout", {"x": randn(rng, 4, 3)}, opset=opset)


@case("dropout-ratio-input-then-relu", BOTH)
def _(rng, opset):
    nodes = [helper.make_node("Dropout", ["x", "ratio"], ["d"], name="drop"),
             helper.make_node("Relu", ["d"], ["y"], name="relu")]
    feeds = {"x": randn(rng, 2, 5)}
    return build(nodes, feeds, ["y"], [init("ratio", np.float32(0.3))], opset), feeds


# Constant nodes
@case("constant-tensor-feeds-add", BOTH)
def _(rng, opset):
    c = randn(rng, 3)
    nodes = [helper.make_node("Constant", [], ["c"], name="const",   # float_data encoding
                              value=helper.make_tensor("cv", F32, [3], c.tolist())),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    feeds = {"x": randn(rng, 2, 3)}
    return build(nodes, feeds, ["y"], opset=opset), feeds


@case("constant-raw-tensor-feeds-add")
def _(rng, opset):
    nodes = [helper.make_node("Constant", [], ["c"], name="const",
                              value=numpy_helper.from_array(randn(rng, 2, 1), "cv")),
             helper.make_node("Add", ["c", "x"], ["y"], name="add")]
    feeds = {"x": randn(rng, 2, 4)}
    return build(nodes, feeds, ["y"], opset=opset), feeds


@case("constant-value_float-value_floats", BOTH)
def _(rng, opset):
    nodes = [helper.make_node("Constant", [], ["k"], name="k", value_float=-2.5),
             helper.make_node("Constant", [], ["v"], name="v", value_floats=[1.0, -0.5, 4.0]),
             helper.make_node("Mul", ["x", "k"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "v"], ["y"], name="add")]
    feeds = {"x": randn(rng, 2, 3)}
    return build(nodes, feeds, ["y"], opset=opset), feeds


@case("constant-value_ints-reshape-value_int-gather", BOTH)
def _(rng, opset):
    nodes = [helper.make_node("Constant", [], ["shape"], name="shape", value_ints=[0, -1]),
             helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
             helper.make_node("Constant", [], ["i"], name="index", value_int=-2),
             helper.make_node("Gather", ["r", "i"], ["y"], name="gather", axis=1)]
    feeds = {"x": randn(rng, 2, 3, 4)}
    return build(nodes, feeds, ["y"], opset=opset), feeds


@case("constant-graph-output")
def _(rng, opset):   # a graph output that is a Constant: folded, yet still an output
    nodes = [helper.make_node("Constant", [], ["c"], name="const",
                              value=numpy_helper.from_array(randn(rng, 2), "cv")),
             helper.make_node("Relu", ["x"], ["y"], name="relu")]
    feeds = {"x": randn(rng, 2)}
    return build(nodes, feeds, ["y", "c"], opset=opset), feeds


@case("initializer-also-graph-input", BOTH)   # as older exporters write them
def _(rng, opset):
    model, feeds = single("Add", {"x": randn(rng, 2, 3)}, {"w": randn(rng, 2, 3)}, opset=opset)
    model.graph.input.append(vi("w", [2, 3]))
    onnx.checker.check_model(model, full_check=True)
    return model, feeds


# Clip
@case("clip-min-only", BOTH)
def _(rng, opset):
    return single("Clip", {"x": randn(rng, 3, 4)}, {"lo": np.float32(-0.25)}, opset=opset)


@case("clip-max-only", BOTH)
def _(rng, opset):
    return single("Clip", {"x": randn(rng, 3, 4)}, {"hi": np.float32(0.5)}, opset=opset,
                  inputs=["x", "", "hi"])


@case("clip-both", BOTH)
def _(rng, opset):
    return single("Clip", {"x": randn(rng, 3, 4, scale=8)}, {"lo": np.float32(0),
                                                             "hi": np.float32(6)}, opset=opset)


@case("clip-none")
def _(rng, opset):
    return single("Clip", {"x": randn(rng, 5)}, opset=opset)


@case("clip-bounds-from-constant-nodes")
def _(rng, opset):
    nodes = [helper.make_node("Constant", [], ["lo"], name="lo", value_float=-1.0),
             helper.make_node("Constant", [], ["hi"], name="hi", value_float=1.0),
             helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")]
    feeds = {"x": randn(rng, 2, 6, scale=2)}
    return build(nodes, feeds, ["y"], opset=opset), feeds


# Reshape / Squeeze / Unsqueeze
@case("reshape-zero-and-minus1", BOTH)
def _(rng, opset):
    return single("Reshape", {"x": randn(rng, 2, 3, 4)}, {"s": np.array([0, -1], np.int64)},
                  opset=opset)


@case("reshape-minus1-first-zero-middle", BOTH)
def _(rng, opset):
    return single("Reshape", {"x": randn(rng, 2, 3, 4)},
                  {"s": np.array([-1, 0, 2, 1], np.int64)}, opset=opset)


@case("reshape-allowzero0-explicit", (14, 21))
def _(rng, opset):
    return single("Reshape", {"x": randn(rng, 2, 6)}, {"s": np.array([0, 3, 2], np.int64)},
                  opset=opset, allowzero=0)


@case("reshape-to-scalar")
def _(rng, opset):
    return single("Reshape", {"x": randn(rng, 1, 1)}, {"s": np.zeros(0, np.int64)}, opset=opset)


@case("squeeze-axes", BOTH)
def _(rng, opset):
    return single("Squeeze", {"x": randn(rng, 1, 3, 1, 2)}, {"axes": np.array([0, -2], np.int64)},
                  opset=opset)


@case("squeeze-no-axes", BOTH)
def _(rng, opset):
    return single("Squeeze", {"x": randn(rng, 1, 3, 1, 2)}, opset=opset)


@case("squeeze-no-axes-all-ones")
def _(rng, opset):
    return single("Squeeze", {"x": randn(rng, 1, 1)}, opset=opset)


@case("unsqueeze", BOTH)
def _(rng, opset):
    return single("Unsqueeze", {"x": randn(rng, 3, 2)}, {"axes": np.array([0, -1], np.int64)},
                  opset=opset)


@case("unsqueeze-middle-scalar-input")
def _(rng, opset):
    return single("Unsqueeze", {"x": randn(rng)}, {"axes": np.array([0, 1], np.int64)},
                  opset=opset)


# Split
@case("split-input", BOTH)
def _(rng, opset):
    return single("Split", {"x": randn(rng, 3, 7)}, {"s": np.array([2, 5], np.int64)},
                  opset=opset, axis=1, outputs=["y0", "y1"])


@case("split-input-negative-axis-with-zero-part", BOTH)
def _(rng, opset):
    return single("Split", {"x": randn(rng, 2, 4)}, {"s": np.array([1, 0, 3], np.int64)},
                  opset=opset, axis=-1, outputs=["y0", "y1", "y2"])


@case("split-equal-implied-by-outputs", (13, 17))
def _(rng, opset):
    return single("Split", {"x": randn(rng, 6, 2)}, opset=opset, outputs=["y0", "y1", "y2"])


@case("split-num_outputs-equal", (18, 21))
def _(rng, opset):
    return single("Split", {"x": randn(rng, 2, 6)}, opset=opset, axis=1, num_outputs=3,
                  outputs=["y0", "y1", "y2"])


@case("split-num_outputs-uneven", (18, 21))
def _(rng, opset):   # ONNX: 7 into 3 is [3, 3, 1] (ceil-sized parts, the last one smaller)
    return single("Split", {"x": randn(rng, 7, 2)}, opset=opset, num_outputs=3,
                  outputs=["y0", "y1", "y2"])


# Slice
def _slice(rng, opset, shape, starts, ends, axes=None, steps=None):
    inits = {"starts": np.array(starts, np.int64), "ends": np.array(ends, np.int64)}
    if axes is not None:
        inits["axes"] = np.array(axes, np.int64)
    if steps is not None:
        if axes is None:
            return single("Slice", {"x": randn(rng, *shape)}, {**inits, "steps": np.array(
                steps, np.int64)}, opset=opset, inputs=["x", "starts", "ends", "", "steps"])
        inits["steps"] = np.array(steps, np.int64)
    return single("Slice", {"x": randn(rng, *shape)}, inits, opset=opset)


@case("slice-reverse-negative-step", BOTH)
def _(rng, opset):
    return _slice(rng, opset, (3, 5), [-1], [INT64_MIN], axes=[1], steps=[-1])


@case("slice-negative-steps-two-axes", BOTH)
def _(rng, opset):
    return _slice(rng, opset, (6, 7, 2), [5, -2], [0, -100], axes=[0, 1], steps=[-2, -3])


@case("slice-omitted-axes", BOTH)
def _(rng, opset):
    return _slice(rng, opset, (4, 5, 6), [1, 0], [3, INT64_MAX])


@case("slice-omitted-axes-with-negative-steps", BOTH)
def _(rng, opset):
    return _slice(rng, opset, (4, 5, 3), [10, 3], [-10, 0], steps=[-1, -2])


@case("slice-clamped-and-empty")
def _(rng, opset):
    return _slice(rng, opset, (4, 5), [-100, 4], [100, 2], axes=[0, -1])


@case("slice-negative-axis-steps-omitted")
def _(rng, opset):
    return _slice(rng, opset, (2, 9), [1], [8], axes=[-1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_onnxruntime(name, backend, rng, tmp_path):
    model, feeds, terms = CASES[name](rng)
    path = tmp_path / "model.onnx"
    onnx.save_model(model, str(path))
    assert_matches(swiftlet_run(path, feeds, backend), ort_run(model, feeds), terms,
                   f"{name} on {backend}")


def test_op_cases_cover_every_supported_op():
    """Every op the importer supports is in some case above (both opset ends where possible)."""
    supported = {"Gemm", "MatMul", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                 "BatchNormalization", "Relu", "Sigmoid", "Tanh", "Gelu", "Add", "Sub", "Mul",
                 "Div", "Flatten", "Softmax", "Gather", "LayerNormalization", "Transpose",
                 "Concat", "Identity", "Constant", "Dropout", "Clip", "Reshape", "Squeeze",
                 "Unsqueeze", "Split", "Slice", "Sqrt", "Pow", "ReduceMean", "ReduceSum"}
    rng = np.random.default_rng(0)
    seen = {}
    for name, make in CASES.items():
        model, _, _ = make(rng)
        for node in model.graph.node:
            seen.setdefault(node.op_type, set()).add(model.opset_import[0].version)
    assert supported <= set(seen), f"no case for {sorted(supported - set(seen))}"
    for op in supported - {"Gelu", "LayerNormalization"}:   # Gelu: 20+, LayerNormalization: 17+
        assert {13, 21} <= seen[op], f"{op}: opsets {sorted(seen[op])}"


def test_duplicate_and_empty_node_names(backend, rng):
    """Unnamed nodes get "<op>_<index>", and clashes (which onnxruntime refuses, but the ONNX
    checker lets through) a suffix, so the nodes still convert."""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="n"),
             helper.make_node("Sigmoid", ["a"], ["b"], name="n"),
             helper.make_node("Tanh", ["b"], ["c"]),
             helper.make_node("Tanh", ["c"], ["y"], name="Tanh_2")]
    model = build(nodes, {"x": vi("x", [5])}, ["y"], opset=17)
    x = randn(rng, 5)
    with swiftlet.Model.from_bytes(model.SerializeToString()) as m, \
            m.session(backend=backend, threads=1) as s:
        got = s.run({"x": x})["y"]
    ref = np.tanh(np.tanh(1 / (1 + np.exp(-np.maximum(x.astype(np.float64), 0)))))
    assert got.dtype == np.float32 and got.shape == (5,)
    assert np.max(np.abs(got - ref)) <= 1e-6


def _mlp(opset, batch_dim):
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["a"], name="relu"),
             helper.make_node("MatMul", ["a", "w2"], ["z"], name="fc2"),
             helper.make_node("Softmax", ["z"], ["y"], name="softmax")]
    inits = [init("w1", randn(rng, 8, 6)), init("b1", randn(rng, 8)), init("w2", randn(rng, 8, 4))]
    return build(nodes, {"x": vi("x", [batch_dim, 6])}, [vi("y", [batch_dim, 4])], inits, opset)


@pytest.mark.parametrize("opset", BOTH)
@pytest.mark.parametrize("batch_dim", ["batch", None], ids=["dim_param", "unnamed-dim"])
def test_dynamic_batch(opset, batch_dim, backend, rng, tmp_path):
    """A dim_param (or unnamed) batch dim: one session runs batch 1 and batch 5."""
    model = _mlp(opset, batch_dim)
    path = tmp_path / "mlp.onnx"
    onnx.save_model(model, str(path))
    with swiftlet.Model(path) as m, m.session(backend=backend, threads=1) as session:
        for batch in (1, 5, 1):
            feeds = {"x": randn(rng, batch, 6)}
            got = session.run(feeds)
            assert_matches(got, ort_run(model, feeds), what=f"batch {batch}")


# ---- 2. the bundled digits models as ONNX -------------------------------------------------------
def _bench_converter():
    """swl_to_onnx from bench/digits_vs_onnxruntime.py (loaded by path: bench/ is no package)."""
    spec = importlib.util.spec_from_file_location("digits_vs_onnxruntime",
                                                  REPO / "bench" / "digits_vs_onnxruntime.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.swl_to_onnx


@pytest.fixture(scope="module")
def swl_to_onnx():
    return _bench_converter()


@pytest.mark.parametrize("name,shape", [("digits_mlp", (-1, 64)), ("digits_cnn", (-1, 1, 8, 8))])
def test_digits_as_onnx(name, shape, backend, swl_to_onnx, tmp_path):
    model = swl_to_onnx(require_file(MODELS / f"{name}.swl"))
    path = tmp_path / f"{name}.onnx"
    onnx.save_model(model, str(path))
    x = np.load(require_file(DATA / "digits_test_x.npy")).astype(np.float32).reshape(shape)
    y = np.load(require_file(DATA / "digits_test_y.npy"))
    expected = json.loads(require_file(MODELS / "digits_metrics.json").read_text())[name]
    ours = swiftlet_run(path, {"input": x}, backend)
    theirs = ort_run(model, {"input": x})
    assert int((ours["logits"].argmax(1) == y).sum()) == expected["correct"]
    assert int((theirs["logits"].argmax(1) == y).sum()) == expected["correct"]
    # models/README.md's bound for a correct runtime: 1e-4 of the largest |logit|.
    scale = float(np.abs(theirs["logits"]).max())
    assert float(np.abs(ours["logits"] - theirs["logits"]).max()) <= 1e-4 * scale


# ---- 3. `swiftlet import` -------------------------------------------------------------------------
def _cli(cli, *args):
    return subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=120)


def _cli_failed(proc) -> str:
    assert proc.returncode > 0, f"expected a clean failure, got exit {proc.returncode}: " \
                                f"{proc.stdout[-500:]} {proc.stderr[-500:]}"
    assert proc.stderr.strip(), "no message on stderr"
    return proc.stderr


@pytest.mark.parametrize("opset", BOTH)
def test_cli_import_writes_equivalent_swl(cli, opset, tmp_path):
    rng = np.random.default_rng(opset)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    inits = [init("w", randn(rng, 3, 1, 3, 3)), init("b", randn(rng, 3)),
             init("fw", randn(rng, 5, 48)), init("fb", randn(rng, 5))]
    model = build(nodes, {"x": vi("x", ["n", 1, 8, 8])}, [vi("y", ["n", 5])], inits, opset,
                  name="tiny_cnn")
    onnx_path, swl_path = tmp_path / "tiny.onnx", tmp_path / "tiny.swl"
    onnx.save_model(model, str(onnx_path))
    proc = _cli(cli, "import", onnx_path, "-o", swl_path)
    assert proc.returncode == 0, proc.stderr
    assert swl_path.read_bytes()[8:9] == b"{"   # a safetensors/.swl file, not a copy
    feeds = {"x": randn(rng, 3, 1, 8, 8)}
    for backend in ("cpu", "reference"):
        from_swl = swiftlet_run(swl_path, feeds, backend)
        from_onnx = swiftlet_run(onnx_path, feeds, backend)
        for k in from_onnx:
            np.testing.assert_array_equal(from_swl[k], from_onnx[k])
        assert_matches(from_swl, ort_run(model, feeds), what=f"imported .swl on {backend}")
    meta = _swl_metadata(swl_path)
    assert meta.get("model.source") == "onnx" and meta.get("model.onnx_opset") == str(opset)
    assert meta.get("model.name") == "tiny_cnn"


def _swl_metadata(path) -> Dict[str, str]:
    from safetensors import safe_open
    with safe_open(str(path), "np") as f:
        return dict(f.metadata())


def test_cli_import_refuses_non_onnx(cli, small_path, tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    for path in (small_path, text):
        out = tmp_path / "out.swl"
        message = _cli_failed(_cli(cli, "import", path, "-o", out))
        assert "ONNX" in message, message
        assert not out.exists()


def test_cli_import_reports_unsupported_op(cli, tmp_path):
    model = one_node("Einsum", {"a": np.zeros((2, 3), np.float32), "b": np.zeros((3, 4),
                     np.float32)}, opset=17, equation="ij,jk->ik")
    path = tmp_path / "einsum.onnx"
    onnx.save_model(model, str(path))
    message = _cli_failed(_cli(cli, "import", path, "-o", tmp_path / "out.swl"))
    assert "node0" in message and "Einsum" in message and "opset 17" in message, message


# ---- 4. unsupported input -------------------------------------------------------------------------
def _load_error(model: "onnx.ModelProto", tmp_path) -> "swiftlet.SwiftletError":
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(swiftlet.SwiftletError) as info:
        swiftlet.Model(path).close()
    with pytest.raises(swiftlet.SwiftletError) as from_memory:
        swiftlet.Model.from_bytes(path.read_bytes()).close()
    assert from_memory.value.status_name == info.value.status_name
    return info.value


X23 = {"x": np.zeros((2, 3), np.float32)}


@pytest.mark.parametrize("opset", BOTH)
def test_unknown_op_einsum(opset, tmp_path):
    model = one_node("Einsum", {"a": np.zeros((2, 3), np.float32), "b": np.zeros((3, 4),
                     np.float32)}, opset=opset, equation="ij,jk->ik")
    model.graph.node[0].name = "my_einsum"
    assert_unsupported(_load_error(model, tmp_path), "my_einsum", "Einsum", f"opset {opset}")


def test_unknown_op_nonmaxsuppression(tmp_path):
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"], name="nms")
    model = build([node], {"boxes": np.zeros((1, 4, 4), np.float32),
                           "scores": np.zeros((1, 1, 4), np.float32)},
                  [vi("sel", [None, 3], I64)], opset=17, check=False)
    assert_unsupported(_load_error(model, tmp_path), "nms", "NonMaxSuppression", "opset 17")


def test_unnamed_node_is_named_by_position(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Hardmax", ["r"], ["y"])]
    model = build(nodes, X23, ["y"], opset=17)
    assert_unsupported(_load_error(model, tmp_path), "Hardmax", "opset 17", "Hardmax_1")


def test_custom_domain_op(tmp_path):
    node = helper.make_node("FancyRelu", ["x"], ["y"], name="fancy", domain="com.example")
    model = build([node], X23, [vi("y", [2, 3])], opset=17,
                  extra_opsets=[helper.make_opsetid("com.example", 1)], check=False)
    assert_unsupported(_load_error(model, tmp_path), "fancy", "FancyRelu", "opset 17",
                       "com.example")


@pytest.mark.parametrize("opset", [12, 22])
def test_unsupported_opset(opset, tmp_path):
    model = one_node("Relu", X23, opset=opset)
    assert_unsupported(_load_error(model, tmp_path), f"opset {opset}")


def test_missing_default_opset(tmp_path):
    node = helper.make_node("FancyRelu", ["x"], ["y"], name="fancy", domain="com.example")
    model = build([node], X23, [vi("y", [2, 3])], opset=17, check=False)
    del model.opset_import[0]
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    err = _load_error(model, tmp_path)
    assert err.status_name == "SWL_STATUS_UNSUPPORTED", err.message


def _save(model, tmp_path, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_reshape_shape_from_shape_node(tmp_path, backend):
    """Shape → Reshape: the target shape is computed when the run is planned."""
    nodes = [helper.make_node("Shape", ["like"], ["s"], name="shape_of_like"),
             helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape_x")]
    feeds = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "like": np.zeros((3, 2), np.float32)}
    model = build(nodes, feeds, ["y"], opset=17)
    assert_matches(swiftlet_run(_save(model, tmp_path), feeds, backend), ort_run(model, feeds))


@pytest.mark.parametrize("backend", BACKENDS)
def test_shape_arithmetic_chains_with_a_dynamic_batch(tmp_path, backend):
    """The pattern exporters emit for multi-head attention: the target shape is built from the
    input's dynamic dims (Shape, Gather, Unsqueeze, Concat), with integer Mul, a Cast round trip
    and a Slice whose end is computed too. Checked at two batch sizes with one session."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="batch_size", axis=0),
             helper.make_node("Unsqueeze", ["n", "zero_axes"], ["n1"], name="n1"),
             helper.make_node("Slice", ["s", "one", "three"], ["hw"], name="hw"),
             helper.make_node("Cast", ["hw"], ["hw_f"], name="to_float", to=TensorProto.FLOAT),
             helper.make_node("Cast", ["hw_f"], ["hw_i"], name="to_int", to=TensorProto.INT64),
             helper.make_node("Gather", ["hw_i", "zero_axes"], ["h"], name="h", axis=0),
             helper.make_node("Gather", ["hw_i", "one"], ["w"], name="w", axis=0),
             helper.make_node("Mul", ["h", "w"], ["flat"], name="flat"),
             helper.make_node("Concat", ["n1", "flat"], ["target"], name="target", axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat_x"], name="reshape"),
             helper.make_node("Slice", ["flat_x", "zero_axes", "n1", "zero_axes"], ["y"], name="rows")]
    inits = [init("zero", np.array(0, np.int64)), init("zero_axes", np.array([0], np.int64)),
             init("one", np.array([1], np.int64)), init("three", np.array([3], np.int64))]
    model = build(nodes, {"x": vi("x", ["batch", 3, 4])}, ["y"], inits, opset=17)
    path = _save(model, tmp_path)
    rng = np.random.default_rng(5)
    with swiftlet.Model(path) as m, m.session(backend=backend) as session:
        for batch in (2, 5, 2):
            feeds = {"x": randn(rng, batch, 3, 4)}
            assert_matches(session.run(feeds), ort_run(model, feeds), what=f"batch {batch}")


def test_reshape_shape_from_graph_input(tmp_path):
    """A shape that is tensor data, not arithmetic on input shapes, cannot be planned for."""
    feeds = {"x": np.zeros((2, 3), np.float32), "s": np.array([3, 2], np.int64)}
    model = one_node("Reshape", feeds, opset=17)
    with swiftlet.Model(_save(model, tmp_path)) as m, m.session() as session:
        with pytest.raises(swiftlet.SwiftletError) as e:
            session.run(feeds)
    assert_unsupported(e.value, "node0", "Reshape", "must be computable when the plan is made")


@pytest.mark.parametrize("op", ["Conv", "MaxPool", "AveragePool"])
@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
def test_auto_pad_same(op, mode, tmp_path):
    feeds = {"x": np.zeros((1, 1, 5, 5), np.float32)}
    inits = {"w": np.zeros((1, 1, 3, 3), np.float32)} if op == "Conv" else {}
    model = one_node(op, feeds, inits, opset=17, auto_pad=mode, kernel_shape=[3, 3])
    assert_unsupported(_load_error(model, tmp_path), "node0", op, "opset 17", mode)


def test_conv_with_a_fourth_input(tmp_path):
    """Swiftlet's own Conv takes a fused residual as a fourth input; an ONNX Conv has at most three."""
    feeds = {"x": np.zeros((1, 1, 5, 5), np.float32), "z": np.zeros((1, 1, 3, 3), np.float32)}
    node = helper.make_node("Conv", ["x", "w", "b", "z"], ["y"], name="node0")
    model = build([node], feeds, [vi("y", [1, 1, 3, 3])], [init("w", np.zeros((1, 1, 3, 3), np.float32)),
                                                           init("b", np.zeros(1, np.float32))], opset=17, check=False)
    assert_unsupported(_load_error(model, tmp_path), "node0", "Conv", "opset 17", "at most 3 inputs")


@pytest.mark.parametrize("what", ["dropout-mask", "maxpool-indices", "batchnorm-training"])
def test_unsupported_extra_outputs(what, tmp_path):
    x = {"x": np.zeros((1, 2, 4, 4), np.float32)}
    if what == "dropout-mask":   # the mask (BOOL) is read by no one, yet is asked for
        node = helper.make_node("Dropout", ["x"], ["y", "mask"], name="node0")
        model = build([node], x, ["y"], opset=17)
        op = "Dropout"
    elif what == "maxpool-indices":
        model = one_node("MaxPool", x, opset=17, outputs=["y", "idx"], kernel_shape=[2, 2])
        op = "MaxPool"
    else:
        params = {n: np.ones(2, np.float32) for n in ("s", "b", "m", "v")}
        model = one_node("BatchNormalization", x, params, opset=17, training_mode=1,
                         outputs=["y", "rm", "rv"])
        op = "BatchNormalization"
    assert_unsupported(_load_error(model, tmp_path), "node0", op, "opset 17")


def test_dropout_in_training_mode(tmp_path):
    """training_mode=True makes Dropout random: it must not become an Identity."""
    node = helper.make_node("Dropout", ["x", "ratio", "training"], ["y"], name="drop")
    model = build([node], X23, ["y"], [init("ratio", np.float32(0.5)),
                                       init("training", np.array(True))], opset=17)
    assert _load_error(model, tmp_path).status_name == "SWL_STATUS_UNSUPPORTED"


def test_batchnorm_training_mode_one_output(tmp_path):
    params = {n: np.ones(2, np.float32) for n in ("s", "b", "m", "v")}
    node = helper.make_node("BatchNormalization", ["x", *params], ["y"], name="node0",
                            training_mode=1)   # invalid ONNX (3 outputs needed): not checked
    model = build([node], {"x": np.zeros((1, 2, 3, 3), np.float32)}, [vi("y", [1, 2, 3, 3])],
                  [init(n, a) for n, a in params.items()], opset=17, check=False)
    assert_unsupported(_load_error(model, tmp_path), "node0", "BatchNormalization", "opset 17",
                       "training_mode")


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pooling_dilations(op, tmp_path):
    model = one_node(op, {"x": np.zeros((1, 1, 6, 6), np.float32)}, opset=19,
                     kernel_shape=[2, 2], dilations=[2, 2])
    assert_unsupported(_load_error(model, tmp_path), "node0", op, "opset 19", "dilations")


def test_clip_bound_not_constant(tmp_path):
    model = one_node("Clip", {"x": np.zeros((2, 3), np.float32), "lo": np.float32(0)}, opset=17)
    assert_unsupported(_load_error(model, tmp_path), "node0", "Clip", "opset 17")


def test_unsupported_graph_input_dtype(tmp_path):
    model = one_node("Relu", {"x": np.zeros((2, 3), np.float64)}, opset=17)
    err = _load_error(model, tmp_path)
    assert_unsupported(err, "'x'")


# ---- 5. malformed protobuf ------------------------------------------------------------------------
def _fuzz_base_model() -> "onnx.ModelProto":
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["y"], name="reshape")]
    inits = [init("w", randn(rng, 4, 3)), init("b", randn(rng, 4)),
             init("shape", np.array([0, 2, 2], np.int64))]
    return build(nodes, {"x": vi("x", ["batch", 3])}, [vi("y", ["batch", 2, 2])], inits, 17,
                 name="fuzz")


FUZZ_SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import swiftlet
data = open(sys.argv[2], "rb").read()
mode, out_path = sys.argv[3], sys.argv[4]
x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
results = []
def attempt(blob, label):
    print(label, file=sys.stderr, flush=True)   # the last line names the case that crashed
    stage = "load"
    try:
        with swiftlet.Model.from_bytes(blob) as m:
            stage = "session"
            with m.session(backend="cpu", threads=1) as s:
                stage = "run"
                out = s.run({"x": x})
        return {"loaded": True, "outputs": {k: v.tolist() for k, v in out.items()},
                "dtypes": {k: str(v.dtype) for k, v in out.items()}}
    except swiftlet.SwiftletError as e:
        return {"loaded": False, "stage": stage, "status": e.status_name, "message": e.message}
if mode == "truncate":
    for n in range(9, len(data)):
        results.append({"length": n, **attempt(data[:n], f"truncated to {n}")})
else:
    rng = np.random.default_rng(int(sys.argv[5]))
    for i in range(int(sys.argv[6])):
        blob = bytearray(data)
        for _ in range(int(rng.integers(1, 3))):
            blob[int(rng.integers(0, len(blob)))] ^= int(rng.integers(1, 256))
        results.append({"bytes": bytes(blob).hex(), **attempt(bytes(blob), f"mutation {i}")})
json.dump(results, open(out_path, "w"))
print("done")
"""


def _fuzz(mode: str, data: bytes, tmp_path, *extra) -> List[dict]:
    src, out = tmp_path / "base.onnx", tmp_path / "results.json"
    src.write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", FUZZ_SCRIPT, str(REPO / "python"), str(src),
                           mode, str(out), *map(str, extra)], capture_output=True, text=True,
                          timeout=300)
    last = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
    assert proc.returncode == 0 and "done" in proc.stdout, \
        f"exit {proc.returncode} (negative: killed by a signal) at {last}; {proc.stderr[-1500:]}"
    return json.loads(out.read_text())


def test_every_truncation_fails_cleanly(tmp_path):
    model = _fuzz_base_model()
    data = model.SerializeToString()
    # Fields are written in field-number order and opset_import (8) comes last, so no proper
    # prefix is a whole model: every one must be refused.
    assert data.endswith(model.opset_import[0].SerializeToString())
    results = _fuzz("truncate", data, tmp_path)
    assert len(results) == len(data) - 9
    bad = [r for r in results if r["loaded"] or r["status"] not in
           ("SWL_STATUS_INVALID_MODEL", "SWL_STATUS_UNSUPPORTED")]
    assert not bad, f"{len(bad)} truncation(s) not refused cleanly, first: {bad[0]}"
    assert all(r["message"] for r in results)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_byte_flips_fail_cleanly_or_load_correctly(seed, tmp_path):
    data = _fuzz_base_model().SerializeToString()
    results = _fuzz("mutate", data, tmp_path, seed, 150)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    compared = 0
    for r in results:
        if not r["loaded"]:
            # Loading refuses a bad file; a model that loads may still fail a run cleanly once
            # the batch size is known (a flipped byte in Reshape's constant shape: the reshape
            # fails, INVALID_ARGUMENT, or the result contradicts the declared output shape,
            # INVALID_MODEL).
            allowed = {"load": ("SWL_STATUS_INVALID_MODEL", "SWL_STATUS_UNSUPPORTED"),
                       "session": ("SWL_STATUS_INVALID_MODEL", "SWL_STATUS_UNSUPPORTED"),
                       "run": ("SWL_STATUS_INVALID_ARGUMENT", "SWL_STATUS_INVALID_MODEL")
                       }[r["stage"]]
            assert r["status"] in allowed, r
            assert r["message"]
            continue
        # It loaded and ran: if onnxruntime accepts the same bytes, the outputs must agree.
        try:
            mutated = onnx.load_from_string(bytes.fromhex(r["bytes"]))
            onnx.checker.check_model(mutated, full_check=True)
            ref = ort_run(mutated, {"x": x})
        except Exception:   # noqa: BLE001 - onnx/onnxruntime refuse it: nothing to compare with
            continue
        got = {k: np.asarray(v, dtype=r["dtypes"][k]) for k, v in r["outputs"].items()}
        assert_matches(got, ref, what=f"mutation {r['bytes']}")
        compared += 1
    # Not vacuous: most flips are refused, some land in weights or names and still load.
    assert sum(not r["loaded"] for r in results) > 0 and compared > 0, \
        f"refused {sum(not r['loaded'] for r in results)}, compared {compared}"


# ---- 6. external data -----------------------------------------------------------------------------
def _external_model(folder) -> Tuple["onnx.ModelProto", Dict[str, np.ndarray]]:
    """A Gemm model saved as folder/model.onnx + folder/weights.bin (all tensors external)."""
    rng = np.random.default_rng(11)
    model = one_node("Gemm", {"x": randn(rng, 2, 5)}, {"w": randn(rng, 3, 5), "b": randn(rng, 3)},
                     opset=17, transB=1)
    feeds = {"x": randn(rng, 2, 5)}
    folder.mkdir(parents=True, exist_ok=True)
    saved = onnx.ModelProto()
    saved.CopyFrom(model)   # save_model moves the tensors out of the proto it is given
    onnx.save_model(saved, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    assert saved.graph.initializer[0].data_location == TensorProto.EXTERNAL
    return model, feeds


def _relocate(path, location: str) -> None:
    """Points every external tensor of the model at `location` (the file's bytes otherwise kept)."""
    model = onnx.load_model(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        assert tensor.data_location == TensorProto.EXTERNAL
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    path.write_bytes(model.SerializeToString())


def _external_error(path) -> "swiftlet.SwiftletError":
    with pytest.raises(swiftlet.SwiftletError) as info:
        swiftlet.Model(path).close()
    return info.value


def test_external_data_loads(backend, tmp_path):
    folder = tmp_path / "m"
    model, feeds = _external_model(folder)
    assert (folder / "weights.bin").stat().st_size == (15 + 3) * 4
    assert_matches(swiftlet_run(folder / "model.onnx", feeds, backend), ort_run(model, feeds))


def test_external_data_relative_path_to_model(tmp_path, monkeypatch):
    """A model path relative to the working directory: its folder is still found."""
    model, feeds = _external_model(tmp_path / "m")
    monkeypatch.chdir(tmp_path / "m")
    assert_matches(swiftlet_run("model.onnx", feeds, "cpu"), ort_run(model, feeds))
    monkeypatch.chdir(tmp_path)
    assert_matches(swiftlet_run(os.path.join("m", "model.onnx"), feeds, "cpu"),
                   ort_run(model, feeds))


def test_external_data_in_subfolder_and_symlink_inside(tmp_path):
    folder = tmp_path / "m"
    model, feeds = _external_model(folder)
    (folder / "sub").mkdir()
    (folder / "weights.bin").rename(folder / "sub" / "weights.bin")
    _relocate(folder / "model.onnx", "sub/weights.bin")
    assert_matches(swiftlet_run(folder / "model.onnx", feeds, "cpu"), ort_run(model, feeds))
    (folder / "link.bin").symlink_to(folder / "sub" / "weights.bin")
    _relocate(folder / "model.onnx", "link.bin")
    assert_matches(swiftlet_run(folder / "model.onnx", feeds, "cpu"), ort_run(model, feeds))


@pytest.mark.parametrize("how", ["dotdot", "dotdot-inner", "absolute", "symlink-out"])
def test_external_data_leaving_the_folder(how, tmp_path):
    folder = tmp_path / "m"
    _external_model(folder)
    outside = tmp_path / "weights.bin"
    outside.write_bytes((folder / "weights.bin").read_bytes())   # present, so only the path fails
    if how == "dotdot":
        location = "../weights.bin"
    elif how == "dotdot-inner":
        (folder / "sub").mkdir()
        location = "sub/../../weights.bin"
    elif how == "absolute":
        location = str(outside)
    else:
        (folder / "link.bin").symlink_to(outside)
        location = "link.bin"
    _relocate(folder / "model.onnx", location)
    err = _external_error(folder / "model.onnx")
    assert err.status_name == "SWL_STATUS_INVALID_MODEL", f"{err.status_name}: {err.message}"
    assert "leaves the model's folder" in err.message, err.message


def test_external_data_missing_file(tmp_path):
    folder = tmp_path / "m"
    _external_model(folder)
    (folder / "weights.bin").unlink()
    err = _external_error(folder / "model.onnx")
    assert err.status_name == "SWL_STATUS_NOT_FOUND", f"{err.status_name}: {err.message}"
    assert "weights.bin" in err.message


def test_external_data_range_past_end(tmp_path):
    folder = tmp_path / "m"
    _external_model(folder)
    data = (folder / "weights.bin").read_bytes()
    (folder / "weights.bin").write_bytes(data[:-4])
    err = _external_error(folder / "model.onnx")
    assert err.status_name == "SWL_STATUS_INVALID_MODEL", f"{err.status_name}: {err.message}"


def test_external_data_from_memory_refused(tmp_path):
    folder = tmp_path / "m"
    _external_model(folder)
    with pytest.raises(swiftlet.SwiftletError) as info:
        swiftlet.Model.from_bytes((folder / "model.onnx").read_bytes()).close()
    assert info.value.status_name == "SWL_STATUS_INVALID_MODEL", info.value.message
    assert "external data" in info.value.message


# ---- misc ------------------------------------------------------------------------------------------
def test_from_bytes_matches_file(rng, tmp_path):
    model = _mlp(17, "batch")
    feeds = {"x": randn(rng, 3, 6)}
    with swiftlet.Model.from_bytes(model.SerializeToString()) as m, m.session("cpu", 1) as s:
        assert_matches(s.run(feeds), ort_run(model, feeds))


def test_imported_metadata(cli, tmp_path):
    model = _mlp(21, "batch")
    model.producer_name = "unit-test"
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path))
    proc = _cli(cli, "import", path, "-o", tmp_path / "m.swl")
    assert proc.returncode == 0, proc.stderr
    meta = _swl_metadata(tmp_path / "m.swl")
    assert meta.get("model.source") == "onnx"
    assert meta.get("model.onnx_opset") == "21"
    assert meta.get("model.producer") == "unit-test"


@pytest.mark.parametrize("name,dims", [("huge", [0, 2**40, 2**40]), ("__metadata__", [2])])
def test_initializers_held_to_the_swl_bounds(name, dims):
    """An empty initializer whose other dims overflow shape arithmetic (Flatten's product), and one
    named like the .swl header's own key, are refused when the model opens, as `swiftlet import`
    refuses them: INVALID_MODEL, never a crash."""
    tensor = helper.make_tensor(name, TensorProto.FLOAT, dims, [1.0] * int(np.prod(dims)))
    graph = helper.make_graph([helper.make_node("Flatten", [name], ["y"], axis=1)], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(swiftlet.SwiftletError) as info:
        swiftlet.Model.from_bytes(model.SerializeToString()).close()
    assert info.value.status_name == "SWL_STATUS_INVALID_MODEL", info.value.message
    assert name in info.value.message
