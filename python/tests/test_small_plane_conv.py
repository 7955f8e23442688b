"""conv_small_plane.c (SmallPlaneConvKernel.swift): convolutions with fewer than 32 output channels
a group whose image unfolds whole into a small scratch, like the digits CNN's 1→8 onto 8×8 and
8→16 onto 4×4. Each image is copied into zero-padded planes and unfolded through a table of
offsets made once per layer, then multiplied by W in 6-row × 16-column register tiles straight
into Y. Against numpy in float64, with W a constant and with W a graph input (both read in place).

The shapes: output planes that fill whole 16-column tiles (64, 16 positions), leave a short last
one (63, 66, 30, 20) or fit in less than a vector (6, 2, 1); output rows at column stride 1 of
1, 3 and 4 floats (the run copies' 4-float blocks), of 5, 8 and 9 (8-float ones), and column
strides 2, 3 and 10 (one element at a time);
output channels off the 6-row tiles (13 = 6 + 6 + 1, 7, 1); strides, asymmetric
pads, dilations, a kernel larger than the input, a pad wider than any window reads, a bottom and
right edge no window reaches, groups; batches that split over two threads and a single image;
a fused Clip that lets NaN through. Which shapes the kernel takes (and which stay with im2col +
sgemm) is BLASKernels.takesSmallPlane's; test_conv_residual.py fuses a residual into it."""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
from conftest import assert_reduction_close, conv_model, randn, run_bytes

P = pytest.param
CASES = [  # N, C, H, W, M, kH, kW, strides, pads (top, left, bottom, right), dilations, group
    P(360, 1, 8, 8, 8, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="digits-conv1"),
    P(360, 8, 4, 4, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="digits-conv2"),
    P(1, 8, 4, 4, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="digits-conv2-one-image"),
    P(5, 6, 7, 9, 13, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="63-positions-13-channels"),
    P(4, 5, 9, 10, 1, 2, 3, (2, 3), (0, 2, 1, 0), (1, 1), 1, id="strides-asymmetric-pads-one-channel"),
    P(3, 4, 11, 12, 7, 3, 2, (1, 2), (2, 1, 2, 1), (2, 3), 1, id="dilations"),
    P(6, 3, 2, 3, 5, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1, id="kernel-larger-than-input"),
    P(2, 2, 3, 1, 4, 2, 2, (1, 10), (0, 5, 0, 1), (1, 1), 1, id="pad-wider-than-the-window"),
    P(2, 3, 9, 9, 6, 3, 3, (3, 3), (0, 0, 0, 0), (1, 1), 1, id="edge-no-window-reaches"),
    P(8, 12, 6, 5, 9, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 3, id="groups-of-3-output-channels"),
    P(2, 4, 1, 1, 3, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="one-pixel-1x1"),
]
PATHS = ["constant-w", "input-w"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("N,C,H,W,M,kH,kW,strides,pads,dilations,group", CASES)
def test_conv(rng, path, threads, N, C, H, W, M, kH, kW, strides, pads, dilations, group):
    X, Wt, B = randn(rng, N, C, H, W), randn(rng, M, C // group, kH, kW), randn(rng, M)
    kw = dict(strides=strides, pads=pads, dilations=dilations, group=group)
    expected = ref.conv2d(X, Wt, B, **kw)
    data, inputs = conv_model(X, Wt, B, expected, w_input=path == "input-w", strides=list(strides), pads=list(pads),
                              dilations=list(dilations), group=group)
    got = run_bytes(data, inputs, "cpu", threads=threads)["Y"]
    assert got.shape == expected.shape
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, absolute=True, **kw))


def test_fused_clip_lets_nan_through(rng):
    """Conv → Clip(0, 6) fused into the tiles' epilogue: every output reading the NaN is NaN."""
    X, Wt, B = randn(rng, 4, 8, 4, 4), randn(rng, 16, 8, 3, 3), randn(rng, 16)
    X[2, 5, 1, 2] = np.nan
    pre = ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1))
    expected = np.clip(pre, 0, 6)
    data, inputs = conv_model(X, Wt, B, expected, w_input=False, fused="clip", pads=[1, 1, 1, 1])
    outputs, report = run_bytes(data, inputs, "cpu", optimize=True, report=True, threads=2)
    got = outputs["Y"]
    assert report.node_count == 1
    nan = np.isnan(pre)
    assert nan.sum() == 16 * 9 and np.array_equal(np.isnan(got), nan)
    bound = ref.conv2d(np.nan_to_num(X), Wt, B, pads=(1, 1, 1, 1), absolute=True)
    assert_reduction_close(got[~nan], expected[~nan], bound[~nan])
    assert got[~nan].min() >= 0 and got[~nan].max() <= 6
