"""Winograd F(2×2, 3×3) (winograd_conv.c, WinogradConvKernel.swift), which takes a Conv with a
constant f32 W, 3×3, stride 1, undilated, one group, ≥ 64 input and output channels and an
output plane of at least 7×7 (BLASKernels.takesWinograd), against numpy in float64. The shapes
are those where the tiling could go wrong: an odd output height or width (the last tile row or
column half outside the output), a last panel of 16 tiles only partly filled, a tile row wider
than the input transform's run of 64 tiles, no padding, asymmetric and over-wide pads, output
channels off the 64-channel blocks and off the 6-row product tiles, batches split over two
threads and batches transformed in chunks of images (the scratch cap), fused bias, ReLU/Clip
that lets NaN through, and a residual Z added before the clamp. The tolerance is
assert_reduction_close's 1e-5 of Σ|products|: the transforms' few additions and halvings enlarge
a direct sum's rounding by a small constant factor, far inside it at these reductions, while a
wrong point, sign or tile is off by whole products. That these shapes take Winograd at all is
checked in Swift (Tests/HWBackendsTests/ConvKernelChoiceTests.swift)."""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
from conftest import assert_reduction_close, conv_model, randn, run_bytes
from test_conv_residual import residual_model

P = pytest.param
CASES = [  # N, C, H, W, M, pads (top, left, bottom, right), threads
    P(1, 64, 56, 56, 64, (1, 1, 1, 1), 2, id="resnet-layer1"),            # 28·28 = 784 tiles, 49 panels
    P(1, 512, 7, 7, 512, (1, 1, 1, 1), 2, id="resnet-layer4"),            # odd 7×7: 16 tiles, half-empty edges
    P(1, 64, 9, 11, 100, (1, 1, 1, 1), 1, id="odd-plane-block-of-36"),    # 5·6 = 30 tiles; M = 64 + 36
    P(2, 70, 12, 12, 70, (0, 0, 0, 0), 2, id="valid-10x10"),              # no padding; 70 = 64 + 6 channels
    P(1, 64, 11, 10, 64, (0, 1, 2, 1), 2, id="asymmetric-pads"),          # out 11×10
    P(1, 64, 7, 8, 64, (2, 2, 2, 2), 1, id="pads-wider-than-the-window"),  # out 9×10: rows of zeros read
    P(1, 64, 7, 140, 65, (1, 1, 1, 1), 2, id="tile-rows-past-64"),        # 70 tiles a row: two runs
    # out 7×136: the second run of 64 tiles starts at input column 127, past the 7-wide image.
    P(1, 64, 7, 7, 64, (1, 1, 1, 130), 1, id="a-run-wholly-in-the-padding"),
    P(3, 96, 15, 17, 64, (1, 1, 1, 1), 2, id="batch3-split-by-image"),
    # 15 panels × 16 points × 256 channels × 16 floats = 983,040 a transformed image: 4 fit the
    # 4 Mi-float scratch cap, so 5 images run as a chunk of 4 and one of 1.
    P(5, 256, 30, 30, 64, (1, 1, 1, 1), 2, id="batch-in-chunks"),
]


@pytest.mark.parametrize("N,C,H,W,M,pads,threads", CASES)
def test_winograd(rng, N, C, H, W, M, pads, threads):
    X, Wt, B = randn(rng, N, C, H, W), randn(rng, M, C, 3, 3), randn(rng, M)
    expected = ref.conv2d(X, Wt, B, pads=pads)
    data, inputs = conv_model(X, Wt, B, expected, w_input=False, pads=list(pads))
    got = run_bytes(data, inputs, "cpu", threads=threads)["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, pads=pads, absolute=True))


@pytest.mark.parametrize("fused", ["relu", "clip"])
def test_fused_clamp_lets_nan_through(rng, fused):
    """A NaN input pixel reaches exactly the outputs whose windows hold it, through the clamp,
    as in the direct sum: the transforms mix a tile's 16 inputs, but the zeros of Bᵀ and Aᵀ keep
    each output from reading an input outside its window."""
    X, Wt, B = randn(rng, 1, 64, 10, 10), randn(rng, 64, 64, 3, 3), randn(rng, 64)
    X[0, 5, 4, 4] = np.nan
    pre = ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1))
    expected = np.maximum(pre, 0) if fused == "relu" else np.clip(pre, 0, 6)
    data, inputs = conv_model(X, Wt, B, expected, w_input=False, fused=fused, pads=[1, 1, 1, 1])
    got, report = run_bytes(data, inputs, "cpu", optimize=True, report=True, threads=2)
    got = got["Y"]
    assert report.node_count == 1  # the clamp was fused into the Conv
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(expected)
    bound = ref.conv2d(np.nan_to_num(X), Wt, B, pads=(1, 1, 1, 1), absolute=True)
    assert_reduction_close(got[finite], expected[finite], bound[finite])


@pytest.mark.parametrize("fused", [None, "relu"])
def test_residual_before_the_clamp(rng, fused):
    """Conv + Add (+ Relu) fuses into one node; Z is added to the sum before the clamp."""
    X, Wt, B, Z = randn(rng, 2, 64, 9, 13), randn(rng, 72, 64, 3, 3), randn(rng, 72), randn(rng, 2, 72, 9, 13)
    pre = ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1)) + np.asarray(Z, np.float64)
    expected = np.maximum(pre, 0) if fused else pre
    data = residual_model(X, Wt, B, Z, expected, w_input=False, activation=fused, pads=[1, 1, 1, 1])
    got, report = run_bytes(data, {"X": X, "Z": Z}, "cpu", optimize=True, report=True, threads=2)
    got = got["Y"]
    assert report.node_count == 1  # Add (and Relu) fused into the Conv
    bound = ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1), absolute=True) + np.abs(np.asarray(Z, np.float64))
    assert_reduction_close(got, expected, bound)


def test_no_bias(rng):
    X, Wt = randn(rng, 1, 64, 8, 8), randn(rng, 64, 64, 3, 3)
    expected = ref.conv2d(X, Wt, None, pads=(1, 1, 1, 1))
    data, inputs = conv_model(X, Wt, None, expected, w_input=False, pads=[1, 1, 1, 1])
    got = run_bytes(data, inputs, "cpu", threads=1)["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, None, pads=(1, 1, 1, 1), absolute=True))
