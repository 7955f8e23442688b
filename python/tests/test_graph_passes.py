"""Each graph pass as a unit: a small ONNX graph holding exactly the pattern a pass rewrites (and
near misses it must leave alone), checked two ways — the op counts after the session's passes
(`swiftlet inspect --passes --json`) show the rewrite happened, and the outputs with passes on
match onnxruntime on the same file (the independent reference) on both backends.
"""
from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import onnx
import pytest
from onnx import helper

import swiftlet
from test_onnx_import import assert_matches, build, init, ort_run, randn

node = helper.make_node


def ops_after_passes(cli, path) -> dict:
    proc = subprocess.run([cli, "inspect", "--passes", "--json", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["ops_after_passes"]


def check(cli, tmp_path, model, feeds, backend, expect_ops: dict, terms=0):
    """Saves `model`, checks op counts after passes (op → count; 0 = absent), then outputs vs ORT."""
    path = tmp_path / "model.onnx"
    onnx.save_model(model, str(path))
    ops = ops_after_passes(cli, path)
    for op, count in expect_ops.items():
        assert ops.get(op, 0) == count, f"{op}: {ops.get(op, 0)} after passes, expected {count} (all: {ops})"
    with swiftlet.Model(path) as m, m.session(backend=backend, threads=1, optimize=True) as session:
        got = session.run(feeds)
    assert_matches(got, ort_run(model, feeds), terms, "passes on")


# ---- GELU -----------------------------------------------------------------------------------------
def gelu_erf_nodes(x="x", y="y", half=0.5, divide=True):
    scale = [node("Div", [x, "sqrt2"], ["scaled"])] if divide else [node("Mul", ["scaled_by", x], ["scaled"])]
    return scale + [node("Erf", ["scaled"], ["erf"]), node("Add", ["one", "erf"], ["onePlus"]),
                    node("Mul", [x, "half"], ["halfX"]), node("Mul", ["halfX", "onePlus"], [y])], \
        [init("sqrt2", np.float32(math.sqrt(2))), init("scaled_by", np.float32(1 / math.sqrt(2))),
         init("one", np.float32(1)), init("half", np.float32(half))]


@pytest.mark.parametrize("divide", [True, False], ids=["div-sqrt2", "mul-inv-sqrt2"])
def test_gelu_erf_form_becomes_gelu(cli, tmp_path, backend, rng, divide):
    nodes, inits = gelu_erf_nodes(divide=divide)
    x = randn(rng, 3, 40, scale=3)
    check(cli, tmp_path, build(nodes, {"x": x}, ["y"], inits, opset=17), {"x": x}, backend,
          {"Gelu": 1, "Erf": 0, "Mul": 0, "Add": 0, "Div": 0})


@pytest.mark.parametrize("cube", ["pow", "mul"])
def test_gelu_tanh_form_becomes_gelu(cli, tmp_path, backend, rng, cube):
    cube_nodes = [node("Pow", ["x", "three"], ["cube"])] if cube == "pow" else \
        [node("Mul", ["x", "x"], ["square"]), node("Mul", ["x", "square"], ["cube"])]
    nodes = cube_nodes + [
        node("Mul", ["cube", "k"], ["kcube"]), node("Add", ["x", "kcube"], ["inner"]),
        node("Mul", ["c", "inner"], ["u"]), node("Tanh", ["u"], ["t"]), node("Add", ["t", "one"], ["onePlus"]),
        node("Mul", ["x", "onePlus"], ["xOnePlus"]), node("Mul", ["xOnePlus", "half"], ["y"])]
    inits = [init("three", np.float32(3)), init("k", np.float32(0.044715)), init("one", np.float32(1)),
             init("c", np.float32(math.sqrt(2 / math.pi))), init("half", np.float32(0.5))]
    x = randn(rng, 3, 40, scale=3)
    check(cli, tmp_path, build(nodes, {"x": x}, ["y"], inits, opset=17), {"x": x}, backend,
          {"Gelu": 1, "Tanh": 0, "Pow": 0})


def test_gelu_lookalike_is_left_alone(cli, tmp_path, backend, rng):
    """0.6 instead of 0.5 is another function: nothing may be fused."""
    nodes, inits = gelu_erf_nodes(half=0.6)
    x = randn(rng, 3, 40, scale=3)
    check(cli, tmp_path, build(nodes, {"x": x}, ["y"], inits, opset=17), {"x": x}, backend,
          {"Gelu": 0, "Erf": 1})


# ---- LayerNorm ------------------------------------------------------------------------------------
def decomposed_layernorm(opset, axes=(-1,), square="pow"):
    def mean(src, dst):
        if opset < 18:
            return [node("ReduceMean", [src], [dst], axes=list(axes))], []
        return [node("ReduceMean", [src, f"{dst}_axes"], [dst])], [init(f"{dst}_axes", np.array(axes, np.int64))]
    m1, i1 = mean("x", "mu")
    m2, i2 = mean("sq", "var")
    squaring = [node("Pow", ["d", "two"], ["sq"])] if square == "pow" else [node("Mul", ["d", "d"], ["sq"])]
    nodes = m1 + [node("Sub", ["x", "mu"], ["d"])] + squaring + m2 + [
        node("Add", ["var", "eps"], ["shifted"]), node("Sqrt", ["shifted"], ["std"]),
        node("Div", ["d", "std"], ["normalized"]), node("Mul", ["normalized", "gamma"], ["scaled"]),
        node("Add", ["scaled", "beta"], ["y"])]
    return nodes, i1 + i2


@pytest.mark.parametrize("opset,square", [(13, "pow"), (18, "pow"), (21, "mul")])
def test_decomposed_layernorm_becomes_layernormalization(cli, tmp_path, backend, rng, opset, square):
    nodes, inits = decomposed_layernorm(opset, square=square)
    hidden = 48
    inits += [init("two", np.float32(2)), init("eps", np.float32(1e-5)),
              init("gamma", randn(rng, hidden)), init("beta", randn(rng, hidden))]
    x = randn(rng, 2, 5, hidden) * 3 + 1
    check(cli, tmp_path, build(nodes, {"x": x}, ["y"], inits, opset=opset), {"x": x}, backend,
          {"LayerNormalization": 1, "ReduceMean": 0, "Sqrt": 0, "Pow": 0})


def test_layernorm_over_a_middle_axis_is_left_alone(cli, tmp_path, backend, rng):
    """Means over axis 1 of a rank-3 tensor are not LayerNormalization(axis=-1)."""
    nodes, inits = decomposed_layernorm(13, axes=(1,))
    inits += [init("two", np.float32(2)), init("eps", np.float32(1e-5)),
              init("gamma", randn(rng, 6)), init("beta", randn(rng, 6))]
    x = randn(rng, 2, 5, 6)
    check(cli, tmp_path, build(nodes, {"x": x}, ["y"], inits, opset=13), {"x": x}, backend,
          {"LayerNormalization": 0, "ReduceMean": 2})


@pytest.mark.parametrize("skip_shape", [(2, 5, 32), (32,)], ids=["same-shape", "broadcast-vector"])
def test_residual_add_and_layernorm_become_skiplayernorm(cli, tmp_path, backend, rng, skip_shape):
    nodes = [node("Add", ["x", "skip"], ["sum"]),
             node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], epsilon=1e-6)]
    feeds = {"x": randn(rng, 2, 5, 32), "skip": randn(rng, *skip_shape)}
    check(cli, tmp_path, build(nodes, feeds, ["y"], [init("gamma", randn(rng, 32)), init("beta", randn(rng, 32))],
                               opset=17), feeds, backend, {"SkipLayerNormalization": 1, "Add": 0})


# ---- MatMul + Add → Linear (+ activation) ---------------------------------------------------------
@pytest.mark.parametrize("activation", [None, "Relu", "Gelu"])
def test_matmul_add_becomes_linear(cli, tmp_path, backend, rng, activation):
    nodes = [node("MatMul", ["x", "w"], ["xw"]), node("Add", ["b", "xw"], ["y" if activation is None else "pre"])]
    if activation:
        nodes.append(node(activation, ["pre"], ["y"]))
    feeds = {"x": randn(rng, 2, 7, 24)}
    inits = [init("w", randn(rng, 24, 40, scale=0.3)), init("b", randn(rng, 40))]
    check(cli, tmp_path, build(nodes, feeds, ["y"], inits, opset=20), feeds, backend,
          {"Linear": 1, "MatMul": 0, "Add": 0, "Relu": 0, "Gelu": 0})


def test_matmul_with_a_computed_right_operand_stays(cli, tmp_path, backend, rng):
    """Only constant weight matrices make a Linear; x·yᵀ between activations stays a MatMul."""
    nodes = [node("MatMul", ["x", "w"], ["y"])]
    feeds = {"x": randn(rng, 3, 4), "w": randn(rng, 4, 5)}
    check(cli, tmp_path, build(nodes, feeds, ["y"], opset=17), feeds, backend, {"Linear": 0, "MatMul": 1})


# ---- Conv + Add (+ Relu) → Conv with a residual ----------------------------------------------------
def test_residual_block_becomes_two_convs(cli, tmp_path, backend, rng):
    """A ResNet downsampling block's tail: Conv → BatchNormalization and a 1×1 strided Conv →
    BatchNormalization, added, then Relu: the norms fold, the Add and Relu join the first Conv."""
    nodes = [node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             node("BatchNormalization", ["c1", "s1", "b1", "m1", "v1"], ["n1"]),
             node("Conv", ["x", "w2"], ["c2"], strides=[2, 2]),
             node("BatchNormalization", ["c2", "s2", "b2", "m2", "v2"], ["n2"]),
             node("Add", ["n1", "n2"], ["sum"]), node("Relu", ["sum"], ["y"])]
    feeds = {"x": randn(rng, 2, 16, 10, 10)}
    inits = [init("w1", randn(rng, 32, 16, 3, 3)), init("w2", randn(rng, 32, 16, 1, 1))]
    for i in "12":
        inits += [init(f"s{i}", randn(rng, 32)), init(f"b{i}", randn(rng, 32)), init(f"m{i}", randn(rng, 32)),
                  init(f"v{i}", rng.uniform(0.5, 2.0, 32).astype(np.float32))]
    check(cli, tmp_path, build(nodes, feeds, ["y"], inits, opset=17), feeds, backend,
          {"Conv": 2, "BatchNormalization": 0, "Add": 0, "Relu": 0}, terms=144)


def test_conv_read_twice_keeps_its_add(cli, tmp_path, backend, rng):
    """The Conv's output is also a graph output: the Add stays a node of its own."""
    nodes = [node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), node("Add", ["c", "z"], ["y"])]
    feeds = {"x": randn(rng, 1, 8, 6, 6), "z": randn(rng, 1, 8, 6, 6)}
    check(cli, tmp_path, build(nodes, feeds, ["y", "c"], [init("w", randn(rng, 8, 8, 3, 3))], opset=17), feeds, backend,
          {"Conv": 1, "Add": 1})


# ---- 1×1 Conv + depthwise Conv → ExpandDepthwiseConv -----------------------------------------------
def inverted_residual_head(rng, miss=None):
    """A MobileNetV2 block's expansion → BatchNormalization → Clip(0, 6) → depthwise Conv → ... → Clip,
    or with `miss` one change the fusion must refuse."""
    first = dict(kernel=3, pads=[1] * 4) if miss == "3x3-first" else dict(kernel=1, pads=[0] * 4)
    expansion = dict(pads=first["pads"], **({"strides": [2, 2]} if miss == "strided-1x1" else {}),
                     **({"group": 2} if miss == "grouped-1x1" else {}))
    multiplier = 2 if miss == "channel-multiplier" else 1
    nodes = [node("Conv", ["x", "w1"], ["c1"], **expansion),
             node("BatchNormalization", ["c1", "s1", "b1", "m1", "v1"], ["n1"]),
             node("Clip", ["n1", "lo", "hi"], ["e"]),
             node("Conv", ["e", "w2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2], group=32),
             node("BatchNormalization", ["c2", "s2", "b2", "m2", "v2"], ["n2"]),
             node("Clip", ["n2", "lo", "hi"], ["y"])]
    width = 32 * multiplier
    inits = [init("w2", randn(rng, width, 1, 3, 3)), init("lo", np.float32(0)), init("hi", np.float32(6))]
    feeds = {"x": randn(rng, 2, 8, 13, 12)}
    w1 = randn(rng, 32, 4 if miss == "grouped-1x1" else 8, first["kernel"], first["kernel"])
    if miss == "weight-an-input":
        feeds["w1"] = w1
    else:
        inits.append(init("w1", w1))
    for i, size in (("1", 32), ("2", width)):
        inits += [init(f"s{i}", randn(rng, size)), init(f"b{i}", randn(rng, size)), init(f"m{i}", randn(rng, size)),
                  init(f"v{i}", rng.uniform(0.5, 2.0, size).astype(np.float32))]
    if miss == "depthwise-residual":
        nodes[-1] = node("Add", ["n2", "z"], ["y"])
        feeds["z"] = randn(rng, 2, 32, 7, 6)
    outputs = ["y", "e"] if miss == "expansion-read-twice" else ["y"]
    return build(nodes, feeds, outputs, inits, opset=17), feeds


def test_expansion_and_depthwise_become_one_node(cli, tmp_path, backend, rng):
    model, feeds = inverted_residual_head(rng)
    check(cli, tmp_path, model, feeds, backend,
          {"ExpandDepthwiseConv": 1, "Conv": 0, "BatchNormalization": 0, "Clip": 0}, terms=8 * 9)


@pytest.mark.parametrize("miss", ["3x3-first", "strided-1x1", "grouped-1x1", "channel-multiplier", "weight-an-input",
                                  "depthwise-residual", "expansion-read-twice"])
def test_expansion_and_depthwise_near_misses_stay_convs(cli, tmp_path, backend, rng, miss):
    """No expansion (3×3, strided, grouped, a W known only at run time), no depthwise layer over its
    channels (two filters a channel), a residual the fused node has no place for, or an expanded
    tensor that is also a graph output: the two Convs stay."""
    model, feeds = inverted_residual_head(rng, miss)
    check(cli, tmp_path, model, feeds, backend, {"ExpandDepthwiseConv": 0, "Conv": 2}, terms=8 * 9 * 9)


def test_compress_keeps_the_exporters_convs(cli, tmp_path, rng):
    """`swiftlet compress` writes the two Convs (its rules and --drop-* name the exporter's nodes);
    a session opening the file fuses them."""
    model, _ = inverted_residual_head(rng)
    onnx.save_model(model, str(tmp_path / "model.onnx"))
    proc = subprocess.run([cli, "compress", str(tmp_path / "model.onnx"), str(tmp_path / "out.swl"), "--quantize", "int8"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([cli, "inspect", "--passes", "--json", str(tmp_path / "out.swl")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ops"].get("Conv") == 2 and "ExpandDepthwiseConv" not in doc["ops"], doc["ops"]
    assert doc["ops_after_passes"] == {"ExpandDepthwiseConv": 1}


# ---- attention ------------------------------------------------------------------------------------
def attention_nodes(masked=True, scale_op="Div"):
    scores = "scaled" if masked else "logits"
    nodes = [node("Transpose", ["q"], ["qt"], perm=[0, 2, 1, 3]), node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1]),
             node("Transpose", ["v"], ["vt"], perm=[0, 2, 1, 3]), node("MatMul", ["qt", "kt"], ["raw"]),
             node(scale_op, ["raw", "c"], [scores])]
    if masked:
        nodes.append(node("Add", ["mask", "scaled"], ["logits"]))
    return nodes + [node("Softmax", ["logits"], ["p"], axis=-1), node("MatMul", ["p", "vt"], ["ctx"]),
                    node("Transpose", ["ctx"], ["y"], perm=[0, 2, 1, 3])]


@pytest.mark.parametrize("masked,scale_op", [(True, "Div"), (False, "Mul"), (True, "Mul")])
def test_attention_chain_becomes_one_attention(cli, tmp_path, backend, rng, masked, scale_op):
    batch, seq, heads, size = 3, 70, 4, 16   # 70 keys: more than one 64-row query block
    feeds = {n: randn(rng, batch, seq, heads, size) for n in "qkv"}
    if masked:
        keep = np.ones((batch, seq), np.float32)
        keep[1, 50:] = 0
        keep[2, 1:] = 0
        feeds["mask"] = ((1 - keep) * np.finfo(np.float32).min)[:, None, None, :]
    c = np.float32(math.sqrt(size)) if scale_op == "Div" else np.float32(1 / math.sqrt(size))
    check(cli, tmp_path, build(attention_nodes(masked, scale_op), feeds, ["y"], [init("c", c)], opset=17), feeds,
          backend, {"Attention": 1, "Transpose": 0, "MatMul": 0, "Softmax": 0})


def test_attention_with_shared_scores_is_left_alone(cli, tmp_path, backend, rng):
    """When the probabilities are also a graph output, the scores must exist: no fusion."""
    feeds = {n: randn(rng, 1, 5, 2, 8) for n in "qkv"}
    model = build(attention_nodes(masked=False, scale_op="Mul"), feeds, ["y", "p"],
                  [init("c", np.float32(0.3))], opset=17)
    check(cli, tmp_path, model, feeds, backend, {"Attention": 0, "Softmax": 1})


# ---- constant folding and dead nodes --------------------------------------------------------------
def test_constant_subgraphs_fold_and_dead_nodes_go(cli, tmp_path, backend, rng):
    """Transpose(W) and Mul(W, 2) of constants are computed once; an unused node disappears."""
    nodes = [node("Transpose", ["w"], ["wt"], perm=[1, 0]), node("Mul", ["wt", "two"], ["w2"]),
             node("MatMul", ["x", "w2"], ["y"]), node("Relu", ["x"], ["unused"])]
    feeds = {"x": randn(rng, 3, 6)}
    inits = [init("w", randn(rng, 5, 6)), init("two", np.float32(2))]
    check(cli, tmp_path, build(nodes, feeds, ["y"], inits, opset=17), feeds, backend,
          {"Transpose": 0, "Mul": 0, "Relu": 0, "Linear": 1})


def test_folding_an_invalid_constant_computation_names_the_node(tmp_path):
    nodes = [node("Div", ["a", "zero"], ["q"], name="divide_by_zero"), node("Add", ["x", "q"], ["y"])]
    model = build(nodes, {"x": np.zeros(2, np.int64)}, ["y"],
                  [init("a", np.array([4, 5], np.int64)), init("zero", np.array([0, 1], np.int64))], opset=17)
    path = tmp_path / "model.onnx"
    onnx.save_model(model, str(path))
    with swiftlet.Model(path) as m:
        with pytest.raises(swiftlet.SwiftletError) as raised:
            m.session()
    assert "divide_by_zero" in raised.value.message and "division by zero" in raised.value.message
