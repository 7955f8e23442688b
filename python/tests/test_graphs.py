"""Multi-node graphs, with graph optimization on and off: the BatchNormalization fold and other
rewrites must not change results beyond rounding.

Error bounds chain the "absolute" references (numpy_ops, absolute=True) through the graph: each
node's rounding error is ≤ 1e-5·(its absolute-value sum) and errors flowing in from earlier nodes
are scaled by the same absolute weights, so a chain of d linear layers (Relu and Clip are
1-Lipschitz) is bounded by d·1e-5 times the absolute-value chain.
"""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
from conftest import (assert_close, assert_reduction_close, model_bytes, randn, run_bytes)
from swiftlet import swl


def _bn_params(rng, C):
    return dict(scale=randn(rng, C), B=randn(rng, C), mean=randn(rng, C),
                var=(rng.random(C) * 2 + 0.05).astype(np.float32))


@pytest.mark.parametrize("with_bias", [True, False], ids=["conv-bias", "conv-nobias"])
@pytest.mark.parametrize("relu", [False, True], ids=["bn", "bn-relu"])
def test_conv_batchnorm_fold(backend, optimize, rng, with_bias, relu):
    N, C, H, W, M = 2, 3, 9, 8, 5
    X, Wt = randn(rng, N, C, H, W), randn(rng, M, C, 3, 3)
    b = randn(rng, M) if with_bias else None
    bn = _bn_params(rng, M)
    conv_kw = dict(strides=(1, 2), pads=(1, 0, 1, 2))
    conv = ref.conv2d(X, Wt, b, **conv_kw)
    expected = ref.batch_norm(conv, bn["scale"], bn["B"], bn["mean"], bn["var"])
    bound = ref.batch_norm(ref.conv2d(X, Wt, b, absolute=True, **conv_kw), bn["scale"], bn["B"],
                           bn["mean"], bn["var"], absolute=True)
    nodes = [swl.node("Conv", ["X", "W"] + (["b"] if with_bias else []), ["c"],
                      strides=[1, 2], pads=[1, 0, 1, 2]),
             swl.node("BatchNormalization", ["c", "bn.scale", "bn.B", "bn.mean", "bn.var"],
                      ["Y" if not relu else "z"])]
    if relu:
        nodes.append(swl.node("Relu", ["z"], ["Y"]))
        expected = np.maximum(expected, 0)
    consts = {"W": Wt, **({"b": b} if with_bias else {}),
              **{f"bn.{k}": v for k, v in bn.items()}}
    data = model_bytes(nodes, {"X": X}, {"Y": (np.float32, expected.shape)}, consts)
    out, report = run_bytes(data, {"X": X}, backend, optimize, report=True)
    assert_reduction_close(out["Y"], expected, 2 * bound)
    assert report.node_count >= 1
    if optimize:
        _, unoptimized = run_bytes(data, {"X": X}, backend, False, report=True)
        assert report.node_count < unoptimized.node_count, \
            "graph.optimize=1 should fold the BatchNormalization into the Conv"


def test_conv_batchnorm_not_folded_when_conv_output_is_shared(backend, optimize, rng):
    """The Conv's output is also a graph output, so folding must not change it."""
    X, Wt, b = randn(rng, 1, 2, 6, 6), randn(rng, 4, 2, 3, 3), randn(rng, 4)
    bn = _bn_params(rng, 4)
    conv = ref.conv2d(X, Wt, b)
    expected = ref.batch_norm(conv, **bn)
    nodes = [swl.node("Conv", ["X", "W", "b"], ["conv_out"]),
             swl.node("BatchNormalization", ["conv_out", "s", "B", "m", "v"], ["Y"])]
    consts = {"W": Wt, "b": b, "s": bn["scale"], "B": bn["B"], "m": bn["mean"], "v": bn["var"]}
    data = model_bytes(nodes, {"X": X}, {"Y": (np.float32, expected.shape),
                                         "conv_out": (np.float32, conv.shape)}, consts)
    out = run_bytes(data, {"X": X}, backend, optimize)
    conv_bound = ref.conv2d(X, Wt, b, absolute=True)
    assert_reduction_close(out["conv_out"], conv, conv_bound)
    assert_reduction_close(out["Y"], expected,
                           2 * ref.batch_norm(conv_bound, **bn, absolute=True))


def test_conv_batchnorm_shared_with_second_reader(backend, optimize, rng):
    """The Conv's output feeds the BatchNormalization and a Relu: no fold allowed."""
    X, Wt = randn(rng, 1, 2, 5, 5), randn(rng, 3, 2, 1, 1)
    bn = _bn_params(rng, 3)
    conv = ref.conv2d(X, Wt)
    nodes = [swl.node("Conv", ["X", "W"], ["c"]),
             swl.node("BatchNormalization", ["c", "s", "B", "m", "v"], ["Y"]),
             swl.node("Relu", ["c"], ["R"])]
    consts = {"W": Wt, "s": bn["scale"], "B": bn["B"], "m": bn["mean"], "v": bn["var"]}
    data = model_bytes(nodes, {"X": X}, {"Y": (np.float32, conv.shape),
                                         "R": (np.float32, conv.shape)}, consts)
    out = run_bytes(data, {"X": X}, backend, optimize)
    cb = ref.conv2d(X, Wt, absolute=True)
    assert_reduction_close(out["R"], np.maximum(conv, 0), cb)
    assert_reduction_close(out["Y"], ref.batch_norm(conv, **bn),
                           2 * ref.batch_norm(cb, **bn, absolute=True))


def test_mlp_chain(backend, optimize, rng):
    """Gemm → Relu → Gemm → Clip(ReLU6) → Gemm, batch dynamic."""
    W1, b1 = randn(rng, 64, 33), randn(rng, 64)
    W2, b2 = randn(rng, 17, 64, scale=0.2), randn(rng, 17)
    W3, b3 = randn(rng, 10, 17), randn(rng, 10)
    nodes = [swl.node("Gemm", ["x", "W1", "b1"], ["h1"], transB=1),
             swl.node("Relu", ["h1"], ["a1"]),
             swl.node("Gemm", ["a1", "W2", "b2"], ["h2"], transB=1),
             swl.node("Clip", ["h2"], ["a2"], min=0.0, max=6.0),
             swl.node("Gemm", ["a2", "W3", "b3"], ["y"], transB=1)]
    data = model_bytes(nodes, {"x": (np.float32, ("batch", 33))},
                       {"y": (np.float32, ("batch", 10))},
                       dict(W1=W1, b1=b1, W2=W2, b2=b2, W3=W3, b3=b3))
    for batch in (1, 13):
        x = randn(rng, batch, 33)
        a1 = np.maximum(ref.gemm(x, W1, b1, transB=1), 0)
        a2 = np.clip(ref.gemm(a1, W2, b2, transB=1), 0, 6)
        y = ref.gemm(a2, W3, b3, transB=1)
        bnd = ref.gemm(x, W1, b1, transB=1, absolute=True)
        bnd = ref.gemm(bnd, W2, b2, transB=1, absolute=True)
        bnd = ref.gemm(bnd, W3, b3, transB=1, absolute=True)
        got = run_bytes(data, {"x": x}, backend, optimize)["y"]
        assert got.shape == (batch, 10)
        assert_reduction_close(got, y, 3 * bnd)


def test_cnn_chain_unordered_nodes(backend, optimize, rng):
    """Conv → BN → Clip → MaxPool → GlobalAveragePool → Flatten → Gemm, nodes listed backwards
    (the file may list nodes in any order; they run in a topological order)."""
    X = randn(rng, 2, 1, 8, 8)
    Wc, bc = randn(rng, 6, 1, 3, 3), randn(rng, 6)
    bn = _bn_params(rng, 6)
    Wf, bf = randn(rng, 4, 6), randn(rng, 4)
    nodes = [swl.node("Conv", ["X", "Wc", "bc"], ["c"], pads=[1, 1, 1, 1]),
             swl.node("BatchNormalization", ["c", "s", "B", "m", "v"], ["n"]),
             swl.node("Clip", ["n"], ["r"], min=0.0, max=6.0),
             swl.node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             swl.node("GlobalAveragePool", ["p"], ["g"]),
             swl.node("Flatten", ["g"], ["f"]),
             swl.node("Gemm", ["f", "Wf", "bf"], ["Y"], transB=1)]
    consts = {"Wc": Wc, "bc": bc, "s": bn["scale"], "B": bn["B"], "m": bn["mean"],
              "v": bn["var"], "Wf": Wf, "bf": bf}
    data = model_bytes(list(reversed(nodes)), {"X": (np.float32, ("N", 1, 8, 8))},
                       {"Y": (np.float32, ("N", 4))}, consts)
    c = ref.conv2d(X, Wc, bc, pads=(1, 1, 1, 1))
    r = np.clip(ref.batch_norm(c, **bn), 0, 6)
    p = ref.max_pool(r, (2, 2), (2, 2))
    y = ref.gemm(ref.flatten(ref.global_average_pool(p)), Wf, bf, transB=1)
    cb = ref.batch_norm(ref.conv2d(X, Wc, bc, pads=(1, 1, 1, 1), absolute=True), **bn,
                        absolute=True)
    pb = ref.max_pool(cb, (2, 2), (2, 2))
    yb = ref.gemm(ref.flatten(ref.global_average_pool(pb)), Wf, bf, transB=1, absolute=True)
    got = run_bytes(data, {"X": X}, backend, optimize)["Y"]
    assert_reduction_close(got, y, 4 * yb)


def test_attention_block(backend, optimize, rng):
    """LayerNorm → Q/K/V MatMuls → Kᵀ → scaled scores → masked Softmax → MatMul → Add → Gelu.

    Softmax and Gelu are not linear, so instead of an absolute-value chain the bound is
    1e-4·max|output|: a wrong transpose, mask or axis is off by O(max|output|)."""
    T, D = 6, 16
    x = randn(rng, T, D)
    g, beta = randn(rng, D), randn(rng, D)
    Wq, Wk, Wv = (randn(rng, D, D, scale=D ** -0.5) for _ in range(3))
    mask = np.tril(np.ones((T, T), np.float32))
    nodes = [swl.node("LayerNormalization", ["x", "g", "beta"], ["h"]),
             swl.node("MatMul", ["h", "Wq"], ["q"]),
             swl.node("MatMul", ["h", "Wk"], ["k"]),
             swl.node("MatMul", ["h", "Wv"], ["v"]),
             swl.node("Transpose", ["k"], ["kt"], perm=[1, 0]),
             swl.node("MatMul", ["q", "kt"], ["s"]),
             swl.node("Mul", ["s", "scale"], ["ss"]),
             swl.node("Softmax", ["ss", "mask"], ["p"], axis=-1),
             swl.node("MatMul", ["p", "v"], ["o"]),
             swl.node("Add", ["o", "x"], ["res"]),
             swl.node("Gelu", ["res"], ["y"])]
    consts = dict(g=g, beta=beta, Wq=Wq, Wk=Wk, Wv=Wv,
                  scale=np.asarray(D ** -0.5, np.float32))
    data = model_bytes(nodes, {"x": x, "mask": mask}, {"y": (np.float32, (T, D))}, consts)
    h = ref.layer_norm(x, g, beta)
    q, k, v = h @ Wq, h @ Wk, h @ Wv
    p = ref.softmax((q @ k.T) * np.float32(D ** -0.5), -1, mask)
    y = ref.gelu(p @ v + x)
    got = run_bytes(data, {"x": x, "mask": mask}, backend, optimize)["y"]
    assert_close(got, y, rtol=0, atol=1e-4 * np.max(np.abs(y)))


def test_backends_agree(rng):
    """The same model on every backend: results within the fp32 bound of each other."""
    X, Wt, b = randn(rng, 2, 3, 7, 7), randn(rng, 4, 3, 3, 3), randn(rng, 4)
    nodes = [swl.node("Conv", ["X", "W", "b"], ["c"], pads=[1, 1, 1, 1]),
             swl.node("Relu", ["c"], ["Y"])]
    data = model_bytes(nodes, {"X": X}, {"Y": (np.float32, (2, 4, 7, 7))}, {"W": Wt, "b": b})
    outs = [run_bytes(data, {"X": X}, be)["Y"] for be in ("reference", "cpu")]
    bound = ref.conv2d(X, Wt, b, pads=(1, 1, 1, 1), absolute=True)
    assert_reduction_close(outs[1], outs[0].astype(np.float64), 2 * bound)
