"""Every operator of docs/FORMAT.md, one-node models, against the numpy references in numpy_ops.

Tolerances (never looser than the arithmetic requires):
- exact (bitwise) for data movement, Relu, Clip, MaxPool, Gather: no arithmetic is involved;
- rtol 1e-5 against a float64 reference for elementwise arithmetic (Add/Sub/Mul/Div are
  correctly rounded: 6e-8; transcendental functions get a few ulps); Sigmoid/Tanh/Gelu also allow
  an absolute 2⁻²³ (·|x| for Gelu), the precision of fp32 values near 1 that these functions are
  built from (1 + exp(x), 1 + erf(x)), which a relative bound cannot see near 0;
- reductions (Gemm, MatMul, Conv, pooling, normalization): error ≤ 1e-5 · Σ|terms| — the error of
  fp32 accumulation scales with the sum of the absolute products, not with the result (see
  conftest.assert_reduction_close).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import numpy_ops as ref
from conftest import (assert_close, assert_exact, assert_reduction_close, model_bytes, randn, run_bytes, run_op)
from swiftlet import swl

P = pytest.param
EPS23 = 2.0 ** -23


def special_values(rng, shape, scale=3.0, extremes=(0.0, -0.0, 1e-4, -1e-4, 20.0, -20.0)):
    x = randn(rng, *shape, scale=scale)
    flat = x.reshape(-1)
    for i, v in enumerate(extremes[:flat.size]):
        flat[rng.integers(flat.size)] = v
    return x


# ---- Gemm ---------------------------------------------------------------------------------------
GEMM = [  # M, K, N, transA, transB, C shape, alpha, beta
    P(1, 1, 1, 0, 0, None, 1.0, 1.0, id="1x1x1-noC"),
    P(3, 5, 7, 0, 1, (7,), 1.0, 1.0, id="transB-C[N]"),
    P(4, 300, 9, 1, 0, (4, 9), 0.5, 2.0, id="transA-K300-C[M,N]-alpha-beta"),
    P(17, 33, 1, 1, 1, (1, 1), -1.5, 0.25, id="transAB-N1-C[1,1]"),
    P(64, 65, 63, 0, 1, (64, 1), 1.0, -1.0, id="64x65x63-C[M,1]"),
    P(2, 3, 300, 0, 0, (), 2.0, 0.5, id="scalarC"),
    P(300, 64, 10, 0, 1, (1, 10), 1.0, 1.0, id="300x64x10-C[1,N]"),
    P(5, 7, 3, 0, 0, (5, 3), 1.0, 0.0, id="beta0"),
    # A linear layer's form (A as is, alpha 1, C a row of N or none): with B constant, the CPU
    # backend's packed tiles from 2 to 511 rows and 16 columns up, B packed from [N, K] under
    # transB; 33 = 2·16 + 1 columns; 512 rows, a beta of 2 and 300x64x10's 10 columns take sgemm.
    P(40, 37, 33, 0, 0, None, 1.0, 1.0, id="linear-form-noC"),
    P(511, 20, 33, 0, 1, (33,), 1.0, 1.0, id="linear-form-511-rows-transB"),
    P(512, 20, 33, 0, 1, (33,), 1.0, 1.0, id="512-rows-sgemm"),
    P(6, 8, 20, 0, 1, (20,), 1.0, 2.0, id="C[N]-beta2-sgemm"),
    # One row: a matrix-vector product on the CPU backend.
    P(1, 70, 40, 0, 1, (40,), 0.5, 2.0, id="M1-transB-C[N]-alpha-beta"),
    P(1, 33, 50, 1, 0, (1, 50), -1.0, 0.5, id="M1-transA-C[1,N]"),
    P(1, 40, 37, 1, 1, None, 1.0, 1.0, id="M1-transAB-noC"),
]


@pytest.mark.parametrize("M,K,N,transA,transB,c_shape,alpha,beta", GEMM)
@pytest.mark.parametrize("b_const", [True, False], ids=["Bconst", "Binput"])
def test_gemm(backend, optimize, rng, M, K, N, transA, transB, c_shape, alpha, beta, b_const):
    A = randn(rng, *((K, M) if transA else (M, K)))
    B = randn(rng, *((N, K) if transB else (K, N)))
    C = randn(rng, *c_shape) if c_shape is not None else None
    expected = ref.gemm(A, B, C, alpha, beta, transA, transB)
    bound = ref.gemm(A, B, C, alpha, beta, transA, transB, absolute=True)
    feeds = {"A": A} if b_const else {"A": A, "B": B}
    consts = {} if not b_const else {"B": B}
    if C is not None:
        consts["C"] = C
    names = ["A", "B"] + (["C"] if C is not None else [])
    attrs = dict(alpha=alpha, beta=beta, transA=transA, transB=transB)
    got = run_op("Gemm", feeds, {"Y": expected}, backend=backend, optimize=optimize,
                 consts=consts, node_inputs=names, **attrs)["Y"]
    assert_reduction_close(got, expected, bound)


def test_gemm_default_attrs(backend, rng):
    A, B, C = randn(rng, 3, 4), randn(rng, 4, 5), randn(rng, 5)
    expected = ref.gemm(A, B, C)
    got = run_op("Gemm", {"A": A}, {"Y": expected}, backend=backend,
                 consts={"B": B, "C": C})["Y"]
    assert_reduction_close(got, expected, ref.gemm(A, B, C, absolute=True))


def test_gemm_dynamic_batch(backend, rng):
    """Outputs with a dynamic dim: exercises the BUFFER_TOO_SMALL / shape-cache path."""
    W, b = randn(rng, 10, 64), randn(rng, 10)
    for batch in (1, 7, 300, 7, 1):
        A = randn(rng, batch, 64)
        expected = ref.gemm(A, W, b, transB=1)
        got = run_op("Gemm", {"A": A}, {"Y": expected}, backend=backend, consts={"W": W, "b": b},
                     transB=1, input_decls={"A": (np.float32, ("batch", 64))},
                     output_decls={"Y": (np.float32, ("batch", 10))})["Y"]
        assert_reduction_close(got, expected, ref.gemm(A, W, b, transB=1, absolute=True))


# ---- MatMul -------------------------------------------------------------------------------------
MATMUL = [
    P((5,), (5,), id="1d-1d"),
    P((7,), (7, 3), id="1d-2d"),
    P((4, 7), (7,), id="2d-1d"),
    P((1, 1), (1, 1), id="1x1"),
    P((3, 300), (300, 5), id="K300"),
    P((2, 1, 3, 4), (5, 4, 6), id="batch-broadcast-4d-3d"),
    P((6, 2, 3), (3, 4), id="3d-2d"),
    P((4,), (2, 4, 3), id="1d-3d"),
    P((2, 3, 4), (4,), id="3d-1d"),
    P((2, 3, 4), (2, 4, 5), id="3d-3d"),
    P((1, 65, 33), (3, 33, 17), id="batch1-broadcast"),
]


@pytest.mark.parametrize("a_shape,b_shape", MATMUL)
@pytest.mark.parametrize("b_const", [False, True], ids=["Binput", "Bconst"])
def test_matmul(backend, optimize, rng, a_shape, b_shape, b_const):
    A, B = randn(rng, *a_shape), randn(rng, *b_shape)
    expected = ref.matmul(A, B)
    feeds = {"A": A} if b_const else {"A": A, "B": B}
    got = run_op("MatMul", feeds, {"Y": expected}, backend=backend, optimize=optimize,
                 consts={"B": B} if b_const else {}, node_inputs=["A", "B"])["Y"]
    assert_reduction_close(got, expected, ref.matmul(A, B, absolute=True))


# ---- Conv ---------------------------------------------------------------------------------------
CONV = [  # N, C, H, W, M, kH, kW, strides, pads, dilations, group, bias
    P(1, 1, 5, 5, 1, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1, False, id="basic-nobias"),
    P(2, 3, 8, 8, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, True, id="same-pad-bias"),
    P(1, 3, 9, 7, 5, 3, 2, (2, 1), (1, 0, 2, 1), (1, 1), 1, True, id="stride21-asym-pads"),
    P(1, 2, 11, 10, 3, 3, 3, (1, 2), (0, 2, 1, 0), (2, 2), 1, False, id="dilation2"),
    P(1, 4, 6, 6, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2, True, id="group2"),
    P(2, 8, 7, 7, 8, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 8, True, id="depthwise"),
    P(1, 8, 5, 5, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 8, False, id="depthwise-multiplier2"),
    # The CPU's depthwise kernel puts 8 planes in a vector's lanes on small planes ("lanes", its
    # scratch ≤ 160 KiB) and, up to 4 MiB, at any stride past 1 or a kernel 3 wide, and computes a
    # flat run of 32-wide steps over stride phases on large planes at stride 1 ("phases"; a 3×3
    # kernel past 4 MiB, 262×257): widths past one step, uneven pads, a
    # 1-wide image, pads wider than the kernel, 1×1, each on both; strides 3 with dilations on a
    # small and a large plane ("large": lanes past the 160 KiB bound), and stride 2 on a plane
    # whose lanes scratch would pass 4 MiB (phases again); on lanes also an extent that
    # stops short of the image (rows, then columns: the last row or column no output reads) and
    # groups across images.
    P(1, 5, 9, 41, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 5, True, id="depthwise-wide"),
    P(2, 4, 13, 12, 4, 3, 2, (3, 2), (0, 2, 1, 0), (2, 3), 4, True, id="depthwise-stride3-dilated"),
    P(1, 3, 6, 1, 3, 3, 1, (2, 1), (1, 0, 1, 0), (1, 1), 3, True, id="depthwise-width1"),
    # outputs 20×1 and 10×2: every group of 8 positions wraps onto new rows 8 and 4 times
    P(1, 3, 20, 1, 3, 3, 1, (1, 1), (1, 0, 1, 0), (1, 1), 3, True, id="depthwise-width1-lanes"),
    P(1, 3, 20, 4, 3, 3, 3, (2, 2), (1, 1, 1, 0), (1, 1), 3, True, id="depthwise-width2-lanes"),
    P(1, 2, 3, 3, 2, 5, 5, (1, 1), (3, 3, 3, 3), (1, 1), 2, True, id="depthwise-pads-past-kernel"),
    P(1, 3, 4, 5, 3, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 3, False, id="depthwise-1x1"),
    P(1, 5, 262, 257, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 5, True, id="depthwise-wide-phases"),
    P(2, 4, 130, 120, 4, 3, 2, (3, 2), (0, 2, 1, 0), (2, 3), 4, True, id="depthwise-stride3-dilated-large"),
    P(1, 3, 4000, 1, 3, 3, 1, (1, 1), (1, 0, 1, 0), (1, 1), 3, True, id="depthwise-width1-phases"),
    P(1, 2, 80, 80, 2, 5, 5, (1, 1), (3, 3, 3, 3), (1, 1), 2, True, id="depthwise-pads-past-kernel-phases"),
    P(1, 3, 80, 80, 3, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 3, False, id="depthwise-1x1-phases"),
    P(1, 2, 400, 390, 2, 3, 3, (2, 2), (1, 0, 1, 1), (1, 1), 2, True, id="depthwise-stride2-phases"),
    P(1, 8, 8, 8, 8, 3, 3, (2, 2), (0, 0, 0, 0), (1, 1), 8, True, id="depthwise-short-rows"),
    P(1, 10, 10, 18, 10, 3, 3, (2, 2), (0, 0, 0, 0), (1, 1), 10, True, id="depthwise-short-columns"),
    P(5, 3, 6, 7, 3, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3, True, id="depthwise-groups-across-images"),
    # Kernels 3 wide at column stride 1 or 2 go a row at a time on the lanes path, 8 positions
    # per run and the rest of the row in one shorter run: rows of 14 (8 + 6) under a 5-tall
    # kernel strided and dilated down the rows; rows of 13 (8 + 5) at stride 2, 9 channels of 2
    # images in groups of 8.
    P(1, 13, 14, 14, 13, 5, 3, (2, 1), (2, 1, 2, 1), (2, 1), 13, True, id="depthwise-row-runs-tall-kernel"),
    P(2, 9, 11, 25, 9, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 9, False, id="depthwise-row-runs-stride2"),
    # Every other length of a row's last run (each its own compiled run), at stride 1 and 2 across
    # (row stride 1 under column stride 2 too); and 3-wide kernels the row runs must leave,
    # dilated across or at column stride 3.
    P(1, 4, 3, 12, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-8-4"),
    P(1, 4, 3, 10, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-8-2"),
    P(1, 4, 3, 11, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-8-3"),
    P(1, 4, 3, 5, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-5"),
    P(1, 4, 5, 13, 4, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-stride2-7"),
    P(1, 4, 5, 29, 4, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-stride2-8-7"),
    P(1, 4, 5, 3, 4, 3, 3, (2, 2), (0, 0, 0, 0), (1, 1), 4, True, id="depthwise-row-runs-stride2-1"),
    P(1, 4, 5, 23, 4, 3, 3, (1, 2), (1, 1, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-stride1x2-8-4"),
    P(1, 4, 5, 13, 4, 3, 3, (1, 2), (1, 0, 1, 1), (1, 1), 4, True, id="depthwise-row-runs-stride1x2-6"),
    P(1, 5, 16, 20, 5, 3, 3, (1, 1), (2, 2, 2, 2), (1, 2), 5, True, id="depthwise-3wide-dilated-across"),
    P(1, 5, 16, 17, 5, 3, 3, (1, 3), (1, 1, 1, 1), (1, 1), 5, True, id="depthwise-3wide-stride3-across"),
    # Kernels 3 wide at column stride 2 on rows of 56+ outputs go straight from the planes
    # (strided rows, with AVX2): 8 outputs a vector in groups of up to 4, a row's last vector
    # overlapping the one before. Rows of 59 (4 + 4 vectors, the last overlapping) under a left
    # pad; rows of 65 (3 + 3 + 3) with no pad; a 5-tall kernel strided and dilated down the rows
    # over 5 channels of 2 images, no bias; and rows of 57 whose last output reads the right pad,
    # which the rule leaves to the lanes path.
    P(1, 3, 9, 118, 3, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 3, True, id="depthwise-strided-rows-4-4"),
    P(1, 2, 7, 131, 2, 3, 3, (2, 2), (0, 0, 0, 0), (1, 1), 2, True, id="depthwise-strided-rows-3-3-3"),
    P(2, 5, 20, 121, 5, 5, 3, (3, 2), (2, 1, 1, 0), (2, 1), 5, False, id="depthwise-strided-rows-tall-kernel"),
    P(1, 2, 6, 113, 2, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2, True, id="depthwise-strided-right-pad-lanes"),
    P(1, 64, 7, 7, 32, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, True, id="1x1-64ch"),
    # 1×1 with up to 192 input channels on planes of 196+ positions run pointwise_conv.c's tiles:
    # a short last tile of 4 and of 1 position, row tiles of 6, 6 and 1, one input channel, the
    # 192-channel edge and, past it, sgemm again.
    P(1, 16, 14, 14, 13, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, True, id="pointwise-tail4"),
    P(2, 192, 15, 15, 7, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, False, id="pointwise-192ch-tail1"),
    P(1, 1, 16, 16, 6, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, True, id="pointwise-1ch"),
    P(1, 193, 14, 14, 5, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, True, id="pointwise-193ch-sgemm"),
    P(3, 2, 1, 13, 3, 1, 3, (1, 3), (0, 1, 0, 1), (1, 1), 1, True, id="H1-row"),
    P(1, 1, 8, 8, 300, 2, 2, (2, 2), (0, 0, 0, 0), (1, 1), 1, True, id="300-filters"),
    P(1, 3, 4, 4, 2, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1, True, id="kernel-larger-than-input"),
    P(1, 6, 10, 9, 4, 3, 3, (3, 2), (2, 0, 0, 2), (2, 1), 2, True, id="everything"),
]


@pytest.mark.parametrize("N,C,H,W,M,kH,kW,strides,pads,dilations,group,bias", CONV)
def test_conv(backend, optimize, rng, N, C, H, W, M, kH, kW, strides, pads, dilations, group,
              bias):
    X = randn(rng, N, C, H, W)
    Wt = randn(rng, M, C // group, kH, kW)
    B = randn(rng, M) if bias else None
    kw = dict(strides=strides, pads=pads, dilations=dilations, group=group)
    expected = ref.conv2d(X, Wt, B, **kw)
    bound = ref.conv2d(X, Wt, B, absolute=True, **kw)
    consts = {"W": Wt, **({"B": B} if bias else {})}
    got = run_op("Conv", {"X": X}, {"Y": expected}, backend=backend, optimize=optimize,
                 consts=consts, strides=list(strides), pads=list(pads),
                 dilations=list(dilations), group=group)["Y"]
    assert_reduction_close(got, expected, bound)


def test_pointwise_conv_with_fused_relu6_passes_nan(backend, rng):
    """A 1×1 Conv → Clip(0, 6) on pointwise_conv.c's path: the clamp runs in its registers, and a
    NaN input position must come out NaN in every output channel; ±∞ inputs saturate."""
    X, Wt, B = randn(rng, 1, 8, 14, 14), randn(rng, 5, 8, 1, 1), randn(rng, 5)
    X[0, 3, 2, 9] = np.nan
    X[0, :, 13, 13] = np.inf
    expected = np.clip(ref.conv2d(X, Wt, B), 0, 6)
    data = model_bytes([swl.node("Conv", ["X", "W", "B"], ["C"], name="pw"),
                        swl.node("Clip", ["C"], ["Y"], name="relu6", min=0.0, max=6.0)],
                       {"X": X}, {"Y": expected.astype(np.float32)}, {"W": Wt, "B": B})
    outputs, report = run_bytes(data, {"X": X}, backend, optimize=True, report=True)
    got = outputs["Y"]
    assert report.node_count == 1
    assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.isnan(got[0, :, 2, 9]).all()
    finite = ~np.isnan(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,stride", [(9, 1), (260, 1), (114, 2)], ids=["lanes", "phases", "strided-rows"])
def test_depthwise_conv_with_fused_relu6_passes_nan(backend, rng, size, stride):
    """Conv → Clip(0, 6) fuses into the Conv's clamp; a NaN input must come out NaN, not 0 or 6
    (on each of the CPU's depthwise paths: a 260×260 plane's scratch is past the lanes bound, and
    rows of 57 outputs at stride 2 go straight from the planes)."""
    X, Wt = randn(rng, 1, 4, size, size), randn(rng, 4, 1, 3, 3)
    X[0, 1, 4, 4] = np.nan
    strides = (stride, stride)
    expected = np.clip(ref.conv2d(X, Wt, strides=strides, pads=(1, 1, 1, 1), group=4), 0, 6)
    data = model_bytes([swl.node("Conv", ["X", "W"], ["C"], name="dw", pads=[1, 1, 1, 1], group=4,
                                 strides=list(strides)),
                        swl.node("Clip", ["C"], ["Y"], name="relu6", min=0.0, max=6.0)],
                       {"X": X}, {"Y": expected.astype(np.float32)}, {"W": Wt})
    outputs, report = run_bytes(data, {"X": X}, backend, optimize=True, report=True)
    got = outputs["Y"]
    assert report.node_count == 1  # the Clip was fused: the Conv's own clamp is what ran
    # the 3×3 windows over (4, 4): 9 outputs at stride 1, only (2, 2) at stride 2
    assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.isnan(got).sum() == (9 if stride == 1 else 1)
    finite = ~np.isnan(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,stride", [(9, 1), (260, 1), (114, 2)], ids=["lanes", "phases", "strided-rows"])
def test_depthwise_conv_with_infinite_weight_multiplies_the_pads(backend, rng, size, stride):
    """ONNX pads with zeros, and inf · 0 is NaN: where an infinite tap lands on the padding the
    output is NaN, elsewhere ±inf. The reference kernels and each of the CPU's depthwise paths
    must multiply their pads (the strided rows skip no pad row) to agree with numpy's."""
    X, Wt = randn(rng, 1, 4, size, size), randn(rng, 4, 1, 3, 3)
    Wt[1, 0, 0, 0] = np.inf
    strides = (stride, stride)
    with np.errstate(invalid="ignore"):
        expected = ref.conv2d(X, Wt, strides=strides, pads=(1, 1, 1, 1), group=4)
    got = run_op("Conv", {"X": X}, {"Y": expected}, backend=backend, consts={"W": Wt},
                 strides=list(strides), pads=[1, 1, 1, 1], group=4)["Y"]
    assert np.isnan(expected[0, 1, 0, :]).all() and np.isnan(expected[0, 1, :, 0]).all()
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.array_equal(np.isinf(got), np.isinf(expected))
    infinite = np.isinf(expected)
    assert np.array_equal(np.sign(got[infinite]), np.sign(expected[infinite]))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-5)


def test_conv_default_attrs(backend, rng):
    X, Wt = randn(rng, 1, 2, 5, 6), randn(rng, 3, 2, 3, 3)
    expected = ref.conv2d(X, Wt)
    got = run_op("Conv", {"X": X}, {"Y": expected}, backend=backend, consts={"W": Wt})["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, absolute=True))


def test_conv_optional_bias_empty_name(backend, rng):
    """An empty string in a node's inputs means "optional input absent"."""
    X, Wt = randn(rng, 1, 2, 5, 6), randn(rng, 3, 2, 3, 3)
    expected = ref.conv2d(X, Wt)
    got = run_op("Conv", {"X": X}, {"Y": expected}, backend=backend, consts={"W": Wt},
                 node_inputs=["X", "W", ""])["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, absolute=True))


def test_conv_dynamic_batch(backend, rng):
    Wt, B = randn(rng, 4, 3, 3, 3), randn(rng, 4)
    for n in (2, 1, 5):
        X = randn(rng, n, 3, 6, 6)
        expected = ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1))
        got = run_op("Conv", {"X": X}, {"Y": expected}, backend=backend,
                     consts={"W": Wt, "B": B}, pads=[1, 1, 1, 1],
                     input_decls={"X": (np.float32, ("N", 3, 6, 6))},
                     output_decls={"Y": (np.float32, ("N", 4, 6, 6))})["Y"]
        assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1),
                                                         absolute=True))


# ---- pooling ------------------------------------------------------------------------------------
# Shapes are chosen so that ceil_mode never produces a window that starts in the trailing padding
# (conventions differ there; numpy_ops.pool_out_size documents the PyTorch/onnxruntime rule).
POOL = [  # shape, kernel, strides, pads, ceil_mode
    P((1, 1, 4, 4), (2, 2), (2, 2), (0, 0, 0, 0), 0, id="2x2s2"),
    P((2, 3, 7, 9), (3, 3), (1, 1), (1, 1, 1, 1), 0, id="3x3s1-pad1"),
    P((1, 2, 7, 7), (3, 3), (2, 2), (0, 0, 0, 0), 1, id="ceil-7-3-2"),
    P((1, 2, 8, 7), (3, 2), (2, 2), (1, 0, 0, 1), 1, id="ceil-asym-pads"),
    P((1, 1, 5, 11), (2, 3), (2, 3), (0, 1, 1, 0), 0, id="asym-pads-floor"),
    P((2, 4, 1, 9), (1, 3), (1, 2), (0, 1, 0, 1), 1, id="H1-ceil"),
    # the last window hangs past the padding: count_include_pad counts only the explicit pads
    P((1, 3, 17, 17), (5, 5), (3, 3), (2, 2, 2, 2), 1, id="5x5s3-ceil-past-pads"),
    P((1, 1, 3, 3), (3, 3), (1, 1), (0, 0, 0, 0), 0, id="whole-input"),
    # lines past a vector's width, ResNet's stem pool, an odd stride
    P((1, 3, 23, 67), (3, 3), (2, 2), (1, 1, 1, 1), 0, id="wide-3x3s2-pad1"),
    P((1, 2, 9, 41), (2, 4), (1, 3), (1, 2, 0, 3), 1, id="wide-s3-ceil"),
    P((1, 2, 12, 29), (2, 5), (1, 1), (0, 2, 1, 2), 0, id="wide-s1-k5"),
    # rows shorter than a vector, many planes (the digits CNN's pool): each row's last windows
    # stored whole into the next row, which overwrites them, except at the end of the planes
    P((3, 5, 8, 8), (2, 2), (2, 2), (0, 0, 0, 0), 0, id="small-planes-2x2s2"),
    P((2, 3, 6, 5), (2, 2), (1, 1), (0, 0, 0, 0), 0, id="small-planes-2x2s1"),
]


@pytest.mark.parametrize("shape,kernel,strides,pads,ceil_mode", POOL)
def test_max_pool(backend, rng, shape, kernel, strides, pads, ceil_mode):
    X = randn(rng, *shape) - 5.0      # mostly negative: a zero from the padding must not win
    expected = ref.max_pool(X, kernel, strides, pads, ceil_mode)
    got = run_op("MaxPool", {"X": X}, {"Y": expected}, backend=backend,
                 kernel_shape=list(kernel), strides=list(strides), pads=list(pads),
                 ceil_mode=ceil_mode)["Y"]
    assert_exact(got, expected)


def test_max_pool_nan_and_infinities(backend, rng):
    """NaN wins its windows, −∞ loses to its neighbours (test_split_kernels.py: threads)."""
    X = randn(rng, 2, 16, 60, 61)
    X[0, 3, 9, 9] = X[1, 15, 59, 60] = X[1, 0, 0, 0] = np.nan
    X[0, 5, :4, :4] = -np.inf
    expected = ref.max_pool(X, (3, 3), (2, 2), (1, 1, 1, 1))
    data = model_bytes([swl.node("MaxPool", ["X"], ["Y"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                                 pads=[1, 1, 1, 1])], {"X": X}, {"Y": expected})
    got = run_bytes(data, {"X": X}, backend)["Y"]
    assert np.isnan(got).sum() == 4 + 1 + 1  # (9, 9) lies where 2×2 windows overlap
    assert_exact(got, expected)
    # stride 1: each NaN is first, middle and last in some window, across rows and columns
    expected = ref.max_pool(X, (3, 3), (1, 1), (1, 1, 1, 1))
    data = model_bytes([swl.node("MaxPool", ["X"], ["Y"], name="pool", kernel_shape=[3, 3], strides=[1, 1],
                                 pads=[1, 1, 1, 1])], {"X": X}, {"Y": expected})
    got = run_bytes(data, {"X": X}, backend)["Y"]
    assert np.isnan(got).sum() == 9 + 4 + 4
    assert_exact(got, expected)


@pytest.mark.parametrize("shape,kernel,strides,pads,ceil_mode", POOL)
@pytest.mark.parametrize("count_include_pad", [0, 1], ids=["exclude-pad", "include-pad"])
def test_average_pool(backend, rng, shape, kernel, strides, pads, ceil_mode, count_include_pad):
    X = randn(rng, *shape)
    kw = dict(kernel_shape=kernel, strides=strides, pads=pads, ceil_mode=ceil_mode,
              count_include_pad=count_include_pad)
    expected = ref.average_pool(X, **kw)
    got = run_op("AveragePool", {"X": X}, {"Y": expected}, backend=backend,
                 **{k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()})["Y"]
    assert_reduction_close(got, expected, ref.average_pool(X, absolute=True, **kw))


def test_pool_default_strides(backend, rng):
    X = randn(rng, 1, 2, 5, 4)
    expected = ref.max_pool(X, (2, 2), (1, 1))
    got = run_op("MaxPool", {"X": X}, {"Y": expected}, backend=backend, kernel_shape=[2, 2])["Y"]
    assert_exact(got, expected)
    expected = ref.average_pool(X, (2, 2), (1, 1))
    got = run_op("AveragePool", {"X": X}, {"Y": expected}, backend=backend,
                 kernel_shape=[2, 2])["Y"]
    assert_reduction_close(got, expected, ref.average_pool(X, (2, 2), absolute=True))


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 300, 1, 1), (1, 1, 17, 19), (3, 2, 1, 300)])
def test_global_average_pool(backend, rng, shape):
    X = randn(rng, *shape)
    expected = ref.global_average_pool(X)
    got = run_op("GlobalAveragePool", {"X": X}, {"Y": expected}, backend=backend)["Y"]
    assert_reduction_close(got, expected, ref.global_average_pool(X, absolute=True))


# ---- BatchNormalization -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,epsilon", [
    P((2, 3, 4, 5), None, id="nchw"),
    P((1, 1, 1, 1), None, id="1x1x1x1"),
    P((3, 300, 2, 3), 1e-3, id="300ch-eps1e-3"),
    P((4, 6), None, id="rank2"),
    P((2, 5, 7), None, id="rank3"),
])
def test_batch_norm(backend, optimize, rng, shape, epsilon):
    C = shape[1]
    X = randn(rng, *shape, scale=2.0)
    scale, B, mean = randn(rng, C), randn(rng, C), randn(rng, C)
    var = (rng.random(C) * 2 + 0.1).astype(np.float32)
    eps = 1e-5 if epsilon is None else epsilon
    expected = ref.batch_norm(X, scale, B, mean, var, eps)
    attrs = {} if epsilon is None else {"epsilon": epsilon}
    got = run_op("BatchNormalization", {"X": X}, {"Y": expected}, backend=backend,
                 optimize=optimize,
                 consts={"scale": scale, "B": B, "mean": mean, "var": var}, **attrs)["Y"]
    assert_reduction_close(got, expected, ref.batch_norm(X, scale, B, mean, var, eps,
                                                         absolute=True))


# ---- elementwise --------------------------------------------------------------------------------
UNARY_SHAPES = [P((), id="scalar"), P((1,), id="1"), P((7,), id="7"), P((3, 1, 5), id="3x1x5"),
                P((2, 3, 300), id="2x3x300")]


@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_relu(backend, rng, shape):
    X = special_values(rng, shape)
    got = run_op("Relu", {"X": X}, {"Y": X}, backend=backend)["Y"]
    expected = np.where(X > 0, X, np.float32(0)).astype(np.float32)
    assert_exact(np.abs(got), np.abs(expected))     # -0.0 vs 0.0 is not an error
    assert not np.any(got < 0)


@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_sigmoid(backend, rng, shape):
    X = special_values(rng, shape, extremes=(0.0, 30.0, -30.0, 1e-4, -15.0))
    got = run_op("Sigmoid", {"X": X}, {"Y": X}, backend=backend)["Y"]
    assert_close(got, ref.sigmoid(X), rtol=1e-5, atol=EPS23)


@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_tanh(backend, rng, shape):
    X = special_values(rng, shape, extremes=(0.0, 1e-4, -1e-4, 30.0, -30.0, 0.5))
    got = run_op("Tanh", {"X": X}, {"Y": X}, backend=backend)["Y"]
    assert_close(got, ref.tanh(X), rtol=1e-5, atol=EPS23)


@pytest.mark.parametrize("approximate", [None, "none", "tanh"])
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_gelu(backend, rng, shape, approximate):
    X = special_values(rng, shape, extremes=(0.0, 1e-4, -1e-4, 8.0, -8.0, -3.0))
    attrs = {} if approximate is None else {"approximate": approximate}
    got = run_op("Gelu", {"X": X}, {"Y": X}, backend=backend, **attrs)["Y"]
    # x·Φ(x): Φ is computed near 1 (1 + erf or 1 + tanh), so its error is absolute, ~2⁻²⁴,
    # and the product scales it by |x|.
    assert_close(got, ref.gelu(X, approximate or "none"), rtol=1e-5,
                 atol=EPS23 * np.maximum(np.abs(X.astype(np.float64)), 1.0))


@pytest.mark.parametrize("bounds", [
    P({"min": 0.0, "max": 6.0}, id="relu6"),
    P({"min": -1.5}, id="min-only"),
    P({"max": 0.25}, id="max-only"),
    P({}, id="no-bounds"),
    P({"min": -0.5, "max": 0.5}, id="narrow"),
])
@pytest.mark.parametrize("shape", UNARY_SHAPES)
def test_clip(backend, rng, shape, bounds):
    X = special_values(rng, shape, extremes=(0.0, 6.0, -1.5, 7.0, 100.0, -100.0))
    got = run_op("Clip", {"X": X}, {"Y": X}, backend=backend, **bounds)["Y"]
    assert_exact(got, ref.clip(X, **bounds))


BROADCAST = [
    P((3, 4), (3, 4), id="same"),
    P((2, 3, 4), (4,), id="trailing"),
    P((3, 1), (1, 4), id="outer"),
    P((1,), (5, 300), id="1-vs-5x300"),
    P((2, 1, 3, 1), (4, 1, 5), id="4d-3d"),
    P((), (3, 2), id="scalar-A"),
    P((7,), (), id="scalar-B"),
    P((1, 1, 1), (1, 1, 1), id="ones"),
]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("a_shape,b_shape", BROADCAST)
@pytest.mark.parametrize("b_const", [False, True], ids=["Binput", "Bconst"])
def test_binary(backend, rng, op, a_shape, b_shape, b_const):
    A = randn(rng, *a_shape)
    if op == "Div":  # keep denominators away from 0: the test is about the op, not about overflow
        B = np.asarray(np.sign(randn(rng, *b_shape)) * rng.uniform(0.5, 2.0, b_shape),
                       dtype=np.float32)
        B[B == 0] = 1.0
    else:
        B = randn(rng, *b_shape)
    expected = ref.binary(op, A, B)
    feeds = {"A": A} if b_const else {"A": A, "B": B}
    got = run_op(op, feeds, {"Y": expected}, backend=backend,
                 consts={"B": B} if b_const else {}, node_inputs=["A", "B"])["Y"]
    assert_close(got, expected, rtol=1e-5)


def test_binary_same_input_twice(backend, rng):
    A = randn(rng, 4, 5)
    got = run_op("Mul", {"A": A}, {"Y": A}, backend=backend, node_inputs=["A", "A"])["Y"]
    assert_close(got, A.astype(np.float64) ** 2)


# ---- Softmax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,axis", [
    P((7,), None, id="1d-default"), P((3, 300), -1, id="3x300"), P((2, 3, 4), 0, id="axis0"),
    P((2, 3, 4), 1, id="axis1"), P((1, 1), -1, id="1x1"), P((4, 5, 6), -2, id="axis-2"),
    P((2, 3, 4), 2, id="axis2"),
])
def test_softmax(backend, rng, shape, axis):
    X = randn(rng, *shape, scale=3.0)
    attrs = {} if axis is None else {"axis": axis}
    expected = ref.softmax(X, -1 if axis is None else axis)
    got = run_op("Softmax", {"X": X}, {"Y": expected}, backend=backend, **attrs)["Y"]
    assert_close(got, expected, rtol=1e-5)
    sums = got.astype(np.float64).sum(axis=-1 if axis is None else axis)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


def test_softmax_nan_is_never_hidden(backend):
    """A NaN makes its row NaN even when every other entry is −inf (a max that skipped NaN would
    see a fully masked row and write zeros); a row of −inf alone stays zeros."""
    X = np.array([[np.nan, -np.inf, -np.inf], [-np.inf, -np.inf, -np.inf], [np.nan, 0.0, 1.0]], np.float32)
    got = run_op("Softmax", {"X": X}, {"Y": X}, backend=backend, axis=-1)["Y"]
    assert np.isnan(got[0]).all() and np.isnan(got[2]).all()
    np.testing.assert_array_equal(got[1], 0)


@pytest.mark.parametrize("x_shape,mask_shape,axis", [
    P((4, 6), (4, 6), -1, id="full-mask"),
    P((4, 6), (1, 6), -1, id="row-broadcast-mask"),
    P((4, 6), (4, 1), -1, id="col-broadcast-mask"),
    P((2, 3, 5), (2, 1, 5), -1, id="3d"),
    P((5, 4), (5, 4), 0, id="axis0"),
])
@pytest.mark.parametrize("mask_const", [False, True], ids=["mask-input", "mask-const"])
def test_softmax_mask(backend, rng, x_shape, mask_shape, axis, mask_const):
    X = randn(rng, *x_shape, scale=3.0)
    mask = (rng.random(mask_shape) > 0.4).astype(np.float32)
    ax = axis % len(x_shape)
    others_broadcast = all(d == 1 for i, d in enumerate(mask_shape) if i != ax)
    if mask_shape[ax] == 1:
        # the mask broadcasts along the softmax axis: a single 0 masks a whole slice
        mask.reshape(-1)[0] = 0.0
        mask.reshape(-1)[-1] = 1.0
    elif others_broadcast:
        # the mask only varies along the axis: a fully masked slice would mask everything
        mask.reshape(-1)[0] = 1.0
    else:
        index = [0] * len(mask_shape)
        index[ax] = slice(None)
        mask[tuple(index)] = 0.0
    full = np.broadcast_to(mask, x_shape)
    expected = ref.softmax(X, axis, mask)
    if not others_broadcast:
        assert np.any(np.all(full == 0, axis=ax)), "the test must hold a fully masked slice"
    feeds = {"X": X} if mask_const else {"X": X, "mask": mask}
    got = run_op("Softmax", feeds, {"Y": expected}, backend=backend, axis=axis,
                 consts={"mask": mask} if mask_const else {}, node_inputs=["X", "mask"])["Y"]
    assert not np.any(np.isnan(got)), "a fully masked slice must give zeros, not NaN"
    assert np.all(got[full == 0] == 0.0), "masked positions must be exactly 0"
    assert_close(got, expected, rtol=1e-5)


def test_softmax_mask_absent_input(backend, rng):
    X = randn(rng, 3, 5)
    expected = ref.softmax(X)
    got = run_op("Softmax", {"X": X}, {"Y": expected}, backend=backend,
                 node_inputs=["X", ""])["Y"]
    assert_close(got, expected)


# ---- Gather -------------------------------------------------------------------------------------
GATHER = [  # data shape, data dtype, indices, index dtype, axis
    P((5, 4), np.float32, [0, -1, 4], np.int64, 0, id="i64-axis0-negative"),
    P((5, 4), np.float32, [[1, -4], [3, 3]], np.int32, 1, id="i32-axis1-2d-indices"),
    P((300, 7), np.float32, 299, np.int64, 0, id="scalar-index"),
    P((2, 3, 4), np.int64, [2, 0, -4], np.int64, -1, id="int64-data-axis-1"),
    P((6, 3), np.int32, [[5], [-6]], np.int32, 0, id="int32-data"),
    P((1, 1), np.float32, [0, 0, -1], np.int64, 1, id="1x1-repeat"),
    P((2, 9, 3), np.float32, [8, -9, 4], np.int32, 1, id="3d-axis1"),
]


def _data(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return randn(rng, *shape)
    return rng.integers(-2**31, 2**31 - 1, shape).astype(dtype)


@pytest.mark.parametrize("shape,dtype,indices,idx_dtype,axis", GATHER)
@pytest.mark.parametrize("data_const", [True, False], ids=["data-const", "data-input"])
def test_gather(backend, rng, shape, dtype, indices, idx_dtype, axis, data_const):
    data = _data(rng, shape, dtype)
    idx = np.asarray(indices, idx_dtype)
    expected = ref.gather(data, idx, axis)
    feeds = {"idx": idx} if data_const else {"data": data, "idx": idx}
    got = run_op("Gather", feeds, {"Y": expected}, backend=backend,
                 consts={"data": data} if data_const else {}, node_inputs=["data", "idx"],
                 axis=axis)["Y"]
    assert_exact(got, expected)


# ---- LayerNormalization -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,axis,epsilon", [
    P((2, 5, 300), -1, None, id="last-axis-300"),
    P((3, 4, 5), 1, None, id="axis1"),
    P((1, 7), -1, None, id="1x7"),
    P((4, 1), -1, None, id="single-element-rows"),
    P((2, 3, 4), -2, 1e-3, id="axis-2-eps"),
    P((6,), 0, None, id="1d"),
])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_layer_norm(backend, rng, shape, axis, epsilon, bias):
    X = randn(rng, *shape, scale=2.0) + np.float32(0.5)
    norm_shape = shape[axis % len(shape):]
    scale = randn(rng, *norm_shape)
    B = randn(rng, *norm_shape) if bias else None
    eps = 1e-5 if epsilon is None else epsilon
    expected = ref.layer_norm(X, scale, B, axis, eps)
    attrs = {"axis": axis}
    if epsilon is not None:
        attrs["epsilon"] = epsilon
    consts = {"scale": scale, **({"B": B} if bias else {})}
    got = run_op("LayerNormalization", {"X": X}, {"Y": expected}, backend=backend,
                 consts=consts, **attrs)["Y"]
    assert_reduction_close(got, expected, ref.layer_norm(X, scale, B, axis, eps, absolute=True))


def test_layer_norm_default_axis(backend, rng):
    X, scale, B = randn(rng, 3, 8), randn(rng, 8), randn(rng, 8)
    expected = ref.layer_norm(X, scale, B)
    got = run_op("LayerNormalization", {"X": X}, {"Y": expected}, backend=backend,
                 consts={"scale": scale, "B": B})["Y"]
    assert_reduction_close(got, expected, ref.layer_norm(X, scale, B, absolute=True))


# ---- Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Identity ----------------------------------
INT_DTYPES = [np.float32, np.int64, np.int32]


@pytest.mark.parametrize("shape,axis", [
    P((2, 3, 4), 0, id="axis0"), P((2, 3, 4), 1, id="axis1"), P((2, 3, 4), 2, id="axis2"),
    P((2, 3, 4), 3, id="axis3"), P((2, 3, 4), -1, id="axis-1"), P((5,), 0, id="1d-axis0"),
    P((5,), 1, id="1d-axis1"), P((1, 1, 1), None, id="ones-default"),
    P((2, 300, 1, 3), None, id="default"),
])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_flatten(backend, rng, shape, axis, dtype):
    X = _data(rng, shape, dtype)
    expected = ref.flatten(X, 1 if axis is None else axis)
    attrs = {} if axis is None else {"axis": axis}
    got = run_op("Flatten", {"X": X}, {"Y": expected}, backend=backend, **attrs)["Y"]
    assert_exact(got, expected)


@pytest.mark.parametrize("in_shape,shape", [
    P((2, 3, 4), [0, -1], id="0,-1"), P((2, 3, 4), [-1], id="-1"),
    P((2, 3, 4), [4, 0, 2], id="4,0,2"), P((1,), [1, 1, 1], id="1->1x1x1"),
    P((6,), [2, -1], id="6->2,-1"), P((2, 3, 4), [0, 0, 4], id="0,0,4"),
    P((300,), [-1, 3, 4, 25], id="300->-1,3,4,25"), P((1, 1), [], id="to-scalar"),
])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_reshape(backend, rng, in_shape, shape, dtype):
    X = _data(rng, in_shape, dtype)
    expected = ref.reshape(X, shape)
    got = run_op("Reshape", {"X": X}, {"Y": expected}, backend=backend, shape=shape)["Y"]
    assert_exact(got, expected)


def test_reshape_dynamic(backend, rng):
    for batch in (1, 5, 2):
        X = randn(rng, batch, 12)
        expected = X.reshape(batch, 3, 4)
        got = run_op("Reshape", {"X": X}, {"Y": expected}, backend=backend, shape=[0, 3, -1],
                     input_decls={"X": (np.float32, ("batch", 12))},
                     output_decls={"Y": (np.float32, ("batch", 3, 4))})["Y"]
        assert_exact(got, expected)


@pytest.mark.parametrize("shape,perm", [
    P((2, 3), None, id="2d-default"), P((2, 3, 4, 5), [0, 2, 1, 3], id="swap12"),
    P((1, 7, 1), [2, 0, 1], id="rotate"), P((7,), None, id="1d"),
    P((2, 1, 3, 1, 2, 2), [5, 4, 3, 2, 1, 0], id="6d-reverse"),
    P((3, 300), [1, 0], id="3x300"), P((2, 3, 4), [0, 1, 2], id="identity-perm"),
    P((2, 3, 4), None, id="3d-default"),
])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_transpose(backend, rng, shape, perm, dtype):
    X = _data(rng, shape, dtype)
    expected = ref.transpose(X, perm)
    attrs = {} if perm is None else {"perm": perm}
    got = run_op("Transpose", {"X": X}, {"Y": np.ascontiguousarray(expected)}, backend=backend,
                 **attrs)["Y"]
    assert_exact(got, np.ascontiguousarray(expected))


@pytest.mark.parametrize("shape,axes", [
    P((1, 3, 1, 5), [0, 2], id="0,2"), P((1, 3, 1, 5), [-2], id="-2"),
    P((1, 3, 1, 5), None, id="all"), P((1,), None, id="1->scalar"),
    P((3, 1), [1], id="trailing"), P((1, 1, 1), [0, 1, 2], id="all-explicit"),
])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_squeeze(backend, rng, shape, axes, dtype):
    X = _data(rng, shape, dtype)
    expected = ref.squeeze(X, axes)
    attrs = {} if axes is None else {"axes": axes}
    got = run_op("Squeeze", {"X": X}, {"Y": expected}, backend=backend, **attrs)["Y"]
    assert_exact(got, expected)


@pytest.mark.parametrize("shape,axes", [
    P((3, 5), [0], id="0"), P((3, 5), [0, 3], id="0,3"), P((3, 5), [-1], id="-1"),
    P((), [0], id="scalar"), P((3, 5), [1], id="middle"), P((2,), [0, 1, 2], id="many"),
])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_unsqueeze(backend, rng, shape, axes, dtype):
    X = _data(rng, shape, dtype)
    expected = ref.unsqueeze(X, axes)
    got = run_op("Unsqueeze", {"X": X}, {"Y": expected}, backend=backend, axes=axes)["Y"]
    assert_exact(got, expected)


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (2, 3, 300)])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_identity(backend, rng, shape, dtype):
    X = _data(rng, shape, dtype)
    got = run_op("Identity", {"X": X}, {"Y": X}, backend=backend)["Y"]
    assert_exact(got, X)


# ---- Split, Concat, Slice -----------------------------------------------------------------------
@pytest.mark.parametrize("shape,axis,n,split", [
    P((6, 4), None, 3, None, id="equal-axis0"),
    P((2, 7), 1, 3, [1, 2, 4], id="explicit-axis1"),
    P((2, 3, 4), -1, 2, [3, 1], id="negative-axis"),
    P((300, 2), 0, 2, None, id="300-halves"),
    P((3, 5), 1, 1, None, id="single-output"),
    P((1, 4, 1), 1, 4, None, id="size-1-parts"),
])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_split(backend, rng, shape, axis, n, split, dtype):
    X = _data(rng, shape, dtype)
    parts = ref.split(X, n, 0 if axis is None else axis, split)
    attrs = {}
    if axis is not None:
        attrs["axis"] = axis
    if split is not None:
        attrs["split"] = split
    expected = {f"Y{i}": p for i, p in enumerate(parts)}
    got = run_op("Split", {"X": X}, expected, backend=backend, **attrs)
    assert list(got) == list(expected)
    for name in expected:
        assert_exact(got[name], expected[name], what=name)


@pytest.mark.parametrize("shapes,axis", [
    P([(2, 3), (2, 1), (2, 5)], 1, id="axis1"),
    P([(1, 4), (3, 4)], 0, id="axis0"),
    P([(2, 2, 3), (2, 2, 1)], -1, id="negative-axis"),
    P([(3, 3)], 0, id="single"),
    P([(1,), (300,), (7,)], 0, id="1d"),
    P([(2, 1, 2)] * 5, 1, id="five-inputs"),
])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_concat(backend, rng, shapes, axis, dtype):
    arrays = {f"X{i}": _data(rng, s, dtype) for i, s in enumerate(shapes)}
    expected = ref.concat(list(arrays.values()), axis)
    got = run_op("Concat", arrays, {"Y": expected}, backend=backend, axis=axis)["Y"]
    assert_exact(got, expected)


def test_concat_const_and_input(backend, rng):
    A, B = randn(rng, 2, 3), randn(rng, 2, 2)
    expected = np.concatenate([A, B], 1)
    got = run_op("Concat", {"A": A}, {"Y": expected}, backend=backend, consts={"B": B},
                 node_inputs=["A", "B"], axis=1)["Y"]
    assert_exact(got, expected)


BIG = 2 ** 62
SLICE = [  # shape, starts, ends, axes, steps
    P((10, 8), [1], [-1], [0], None, id="negative-end"),
    P((10, 8), [-3, 0], [1000, 8], [0, 1], None, id="clamp-end"),
    P((10, 8), [-1000], [5], [1], None, id="clamp-start"),
    P((10, 8), [-1], [-BIG], [0], [-1], id="reverse"),
    P((10, 8), [0, 7], [10, 0], [0, 1], [2, -3], id="steps-2-and-neg3"),
    P((10, 8), [2], [BIG], [-1], None, id="negative-axis-huge-end"),
    P((4, 5, 6), [1, 0, 5], [4, 5, 0], None, [1, 2, -2], id="3d-all-axes-default"),
    P((300,), [7], [299], None, [3], id="300-step3"),
    P((3, 4), [0, 1], [3, 3], [1, 0], None, id="axes-out-of-order"),
    P((5,), [BIG], [-BIG], [0], [-2], id="huge-start-negative-step"),
    P((2, 3), [0], [1], [0], None, id="to-size-1"),
]


@pytest.mark.parametrize("shape,starts,ends,axes,steps", SLICE)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_slice(backend, rng, shape, starts, ends, axes, steps, dtype):
    X = _data(rng, shape, dtype)
    expected = ref.slice_(X, starts, ends, axes, steps)
    attrs = {"starts": starts, "ends": ends}
    if axes is not None:
        attrs["axes"] = axes
    if steps is not None:
        attrs["steps"] = steps
    got = run_op("Slice", {"X": X}, {"Y": expected}, backend=backend, **attrs)["Y"]
    assert_exact(got, expected)


def test_slice_empty_result(backend, rng):
    """starts past ends: ONNX gives an empty dimension."""
    X = randn(rng, 6, 3)
    expected = ref.slice_(X, [5], [2], [0])
    assert expected.shape == (0, 3)
    got = run_op("Slice", {"X": X}, {"Y": expected}, backend=backend, starts=[5], ends=[2],
                 axes=[0])["Y"]
    assert_exact(got, expected)


# ---- non-finite values and empty tensors --------------------------------------------------------
@pytest.mark.parametrize("op,attrs", [
    P("Relu", {}, id="Relu"), P("Sigmoid", {}, id="Sigmoid"), P("Tanh", {}, id="Tanh"),
    P("Gelu", {}, id="Gelu"), P("Clip", {"min": 0.0, "max": 6.0}, id="Clip"),
    P("Identity", {}, id="Identity"), P("Erf", {}, id="Erf"),
])
def test_nan_propagates(backend, op, attrs):
    """ONNX semantics (and numpy's): NaN in, NaN out. Swallowing it (e.g. max(x, 0) = 0) hides
    an upstream problem. The NaN pattern must match numpy's on NaN and ±inf inputs."""
    X = np.array([np.nan, 1.0, -1.0, np.inf, -np.inf, 0.0], np.float32)
    reference = {"Relu": lambda x: np.maximum(x, 0), "Sigmoid": ref.sigmoid, "Tanh": ref.tanh,
                 "Gelu": ref.gelu, "Clip": lambda x: np.clip(x, 0.0, 6.0),
                 "Identity": lambda x: x, "Erf": np.vectorize(math.erf)}[op]
    with np.errstate(all="ignore"):
        expected = reference(X.astype(np.float64))
    got = run_op(op, {"X": X}, {"Y": X}, backend=backend, **attrs)["Y"]
    assert np.array_equal(np.isnan(got), np.isnan(expected)), \
        f"{op}({X.tolist()}) gave {got.tolist()}, numpy gives {expected.tolist()}"


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_binary_non_finite(backend, op):
    A = np.array([np.nan, np.inf, -np.inf, 1.0, 0.0], np.float32)
    B = np.array([1.0, 2.0, 2.0, np.inf, 0.0], np.float32)
    with np.errstate(all="ignore"):
        expected = ref.binary(op, A, B)
    got = run_op(op, {"A": A, "B": B}, {"Y": expected}, backend=backend)["Y"]
    assert_exact(got, expected.astype(np.float32))


@pytest.mark.parametrize("case", ["gemm", "conv", "softmax", "gather", "concat"])
def test_empty_batch(backend, rng, case):
    """A dynamic dimension bound to 0 gives empty outputs of the right shape."""
    if case == "gemm":
        got = run_op("Gemm", {"A": np.zeros((0, 4), np.float32)}, {"Y": np.zeros((0, 3))},
                     backend=backend, consts={"B": randn(rng, 4, 3)},
                     input_decls={"A": (np.float32, ("n", 4))},
                     output_decls={"Y": (np.float32, ("n", 3))})["Y"]
        assert got.shape == (0, 3)
    elif case == "conv":
        got = run_op("Conv", {"X": np.zeros((0, 1, 4, 4), np.float32)},
                     {"Y": np.zeros((0, 2, 2, 2))}, backend=backend,
                     consts={"W": randn(rng, 2, 1, 3, 3)},
                     input_decls={"X": (np.float32, ("n", 1, 4, 4))},
                     output_decls={"Y": (np.float32, ("n", 2, 2, 2))})["Y"]
        assert got.shape == (0, 2, 2, 2)
    elif case == "softmax":
        got = run_op("Softmax", {"X": np.zeros((0, 5), np.float32)}, {"Y": np.zeros((0, 5))},
                     backend=backend, input_decls={"X": (np.float32, ("n", 5))},
                     output_decls={"Y": (np.float32, ("n", 5))})["Y"]
        assert got.shape == (0, 5)
    elif case == "gather":
        table = randn(rng, 4, 3)
        got = run_op("Gather", {"i": np.zeros(0, np.int64)}, {"Y": np.zeros((0, 3))},
                     backend=backend, consts={"data": table}, node_inputs=["data", "i"],
                     input_decls={"i": (np.int64, ("n",))},
                     output_decls={"Y": (np.float32, ("n", 3))})["Y"]
        assert got.shape == (0, 3)
    else:
        A, B = randn(rng, 2, 3), np.zeros((2, 0), np.float32)
        got = run_op("Concat", {"A": A, "B": B}, {"Y": A}, backend=backend, axis=1,
                     input_decls={"B": (np.float32, (2, "k"))})["Y"]
        assert_exact(got, A)
