"""conv_shallow.c (ShallowConvKernel.swift), the convolution a constant W with a kernel larger than
1×1, 32+ output channels and at most 4 input channels takes onto output rows of 32 or more (an
image model's stem): blocks of 4 output channels × 16 positions of one output row, read from the
input's stride phases, against numpy in float64. The shapes: a row's last block short of 16 (two
vectors, masked stores), of exactly 8 and of fewer (one vector, whole or masked), output channel counts off the blocks of 4, strides and dilations that spread the taps over
all four stride phases, asymmetric pads, a fused ReLU6 that must let NaN through, images whose phases
fill the scratch cap two at a time (chunks of two images and a last of one). Where a case says so,
the threads split the blocks of output channels (within and across images) and the phases by
channel: each takes 250 k multiply-adds or more (ColumnSplit). The residual it adds in its
epilogue is tested in test_conv_residual.py."""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
from conftest import assert_reduction_close, model_bytes, randn, run_bytes
from swiftlet import swl

P = pytest.param
CASES = [  # N, C, H, W, M, kH, kW, strides, pads (top, left, bottom, right), dilations, threads
    # MobileNetV2's stem on a 64×64 image: 32×32 outputs, two whole blocks of 16 a row; the 8
    # blocks of channels split 4 + 4.
    P(1, 3, 64, 64, 32, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2, id="stem"),
    # 53 = 16·3 + 5 columns a row (a last block of one vector, masked), 34 = 4·8 + 2 channels; 2 images × 9 blocks
    # over 3 threads, one of them across the two images.
    P(2, 2, 60, 53, 34, 3, 3, (1, 1), (1, 0, 0, 2), (1, 1), 3, id="masked-tail-and-channels"),
    # 2 channels × 3×4 = 24 terms; stride 2 and dilation 3 both ways: the taps read all four phases.
    P(1, 2, 31, 140, 33, 3, 4, (2, 2), (2, 1, 1, 3), (3, 3), 2, id="strides-dilations-pads"),
    # One channel, 5×5 = 25 terms, one thread, one output channel short of a block of 4; rows of
    # 77 = 16·4 + 13 outputs (a last block of two vectors, masked).
    P(1, 1, 40, 77, 35, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1, id="one-channel-5x5"),
    # ResNet-18's stem (3 × 7×7 = 147 terms) onto rows of 56 = 16·3 + 8: a last block of one whole
    # vector; 64 channels in 16 blocks over 2 threads.
    P(1, 3, 112, 112, 64, 7, 7, (2, 2), (3, 3, 3, 3), (1, 1), 2, id="7x7-rows-of-56"),
    # Stride 3 over 3 channels of 3×3 (27 terms), rows of 34 outputs, windows that just tile the rows.
    P(2, 3, 12, 101, 36, 3, 3, (3, 3), (0, 1, 2, 1), (1, 1), 2, id="stride-3"),
    # 2 images × 3 channels of phases (91 k floats each) split over 2 threads, as are the blocks.
    P(2, 3, 300, 300, 32, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 2, id="phases-over-2-threads"),
]


def conv_model(X, Wt, B, expected, fused=None, **attrs):
    nodes = [swl.node("Conv", ["X", "W", "B"], ["C" if fused else "Y"], name="conv", **attrs)]
    if fused:
        nodes.append(swl.node("Clip", ["C"], ["Y"], name="clip", min=0.0, max=6.0))
    return model_bytes(nodes, {"X": X}, {"Y": expected.astype(np.float32)}, {"W": Wt, "B": B})


@pytest.mark.parametrize("N,C,H,W,M,kH,kW,strides,pads,dilations,threads", CASES)
def test_shallow_conv(rng, N, C, H, W, M, kH, kW, strides, pads, dilations, threads):
    X, Wt, B = randn(rng, N, C, H, W), randn(rng, M, C, kH, kW), randn(rng, M)
    kw = dict(strides=strides, pads=pads, dilations=dilations)
    expected = ref.conv2d(X, Wt, B, **kw)
    assert expected.shape[3] >= 32 and C <= 4 and M >= 32 and kH * kW > 1  # BLASKernels.takesShallow
    data = conv_model(X, Wt, B, expected, strides=list(strides), pads=list(pads), dilations=list(dilations))
    got = run_bytes(data, {"X": X}, "cpu", threads=threads)["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, absolute=True, **kw))


def test_fused_relu6_lets_nan_through(rng):
    """Conv → Clip(0, 6) fuses into the blocks' epilogue: a NaN pixel comes out NaN at every output
    that reads it (2 × 2 windows × 32 channels), the others clamped."""
    X, Wt, B = randn(rng, 1, 3, 64, 70), randn(rng, 32, 3, 3, 3), randn(rng, 32)
    X[0, 1, 9, 9] = np.nan
    pre = ref.conv2d(X, Wt, B, strides=(2, 2), pads=(1, 1, 1, 1))
    expected = np.clip(pre, 0, 6)
    data = conv_model(X, Wt, B, expected, fused=True, strides=[2, 2], pads=[1, 1, 1, 1])
    outputs, report = run_bytes(data, {"X": X}, "cpu", optimize=True, report=True, threads=2)
    got = outputs["Y"]
    assert report.node_count == 1  # the Clip was fused into the Conv
    nan = np.isnan(pre)
    assert nan.sum() == 32 * 4 and np.array_equal(np.isnan(got), nan)
    bound = ref.conv2d(np.nan_to_num(X), Wt, B, strides=(2, 2), pads=(1, 1, 1, 1), absolute=True)
    assert_reduction_close(got[~nan], expected[~nan], bound[~nan])
    assert got[~nan].min() >= 0 and got[~nan].max() <= 6


def test_images_in_chunks(rng):
    """Three images whose phases (16 planes of 301 × 301 floats each, stride 4) fit the 4 Mi-float
    scratch cap two at a time: a chunk of two images, then a chunk of one."""
    X, Wt, B = randn(rng, 3, 1, 1200, 1200), randn(rng, 32, 1, 3, 3), randn(rng, 32)
    kw = dict(strides=(4, 4), pads=(1, 1, 1, 1))
    expected = ref.conv2d(X, Wt, B, **kw)
    data = conv_model(X, Wt, B, expected, strides=[4, 4], pads=[1, 1, 1, 1])
    got = run_bytes(data, {"X": X}, "cpu", threads=2)["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, absolute=True, **kw))
