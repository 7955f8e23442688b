"""The two CKernels convolutions for 32 or more output channels per group, each on shapes where it
could go wrong, against numpy in float64. Every case runs twice: with W a constant, which a kernel
larger than 1×1 takes to conv_direct.c (W packed once, input pixels broadcast up to 6 positions
× 16 output channels a tile, the plane's positions dealt out evenly, from a zero-padded copy or, with no padding read, the input itself:
DirectConvKernel.swift; so does a 1×1 one of one group with at most 196 output positions that the
pointwise tiles leave, strided or padded too; but a 3×3 stride-1 one with 64 or more channels each way, here
resnet-layer1 and three-blocks, takes Winograd instead, which test_winograd_conv.py tests on its
own shapes); and with W a graph input, which takes conv_panels.c (the input unfolded
16 output positions at a time, W read in place, the reduction in blocks of 512 with partial sums
stored between them: PanelConvKernel.swift), as do 1×1 strided or padded ones onto larger planes
either way.
The shapes: position counts that leave a short last panel or tiles of fewer than 6 (one
position, four, five, fifteen) or fit in one; passes of 16 panels and a short last pass; reductions of one block, of
exactly 512, and of three with a short last one; output channel counts past a 96-row block, off
the 6-row tiles and off the 16-channel blocks; strides, asymmetric pads, dilations, a kernel
larger than the input, a pad wider than the window reads, an input larger than the windows
cover, groups; batches whose work splits over two threads inside an image, and batches padded in
chunks of images; a fused ReLU/Clip
that must let NaN through. The panels' cases are sized to take them by BLASKernels.takesPanels:
not 1×1 stride 1 unpadded, and either 2048+ positions or, on two threads, work enough
(≥ 500 k multiply-adds) for the split to use both."""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
from conftest import assert_reduction_close, conv_model, randn, run_bytes

P = pytest.param
CASES = [  # N, C, H, W, M, kH, kW, strides, pads (top, left, bottom, right), dilations, group
    P(1, 64, 56, 56, 64, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="resnet-layer1"),    # 576 = 512 + 64
    P(1, 3, 45, 37, 32, 7, 7, (2, 2), (3, 3, 3, 3), (1, 1), 1, id="stem-7x7-s2"),       # 23·19 = 437 positions
    P(1, 130, 9, 11, 100, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="three-blocks"),    # 1170; 99 = 6·16 + 3
    P(2, 512, 7, 7, 40, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="7x7-tail1"),        # 4608; 49 = 3·16 + 1
    P(2, 16, 20, 20, 36, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="valid-18x18"),      # 324 = 20·16 + 4
    P(1, 48, 40, 40, 48, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1, id="1x1-stride2"),
    # 1×1 stride 2 onto 14×13 = 182 positions (the direct tiles with W constant), asymmetric pads
    P(2, 72, 27, 25, 40, 1, 1, (2, 2), (0, 1, 1, 0), (1, 1), 1, id="1x1-stride2-small-plane"),
    P(1, 24, 17, 23, 32, 3, 2, (2, 1), (1, 0, 2, 1), (2, 3), 1, id="stride-pads-dilation"),
    # Kernels 3 wide step through each row's 3 taps together (direct_tile.h), undilated ones only:
    # 3×3 dilated along the rows or the columns, 1×3 and 3×1, and 5×3 (rows of 3 twice over and more).
    P(1, 40, 13, 15, 48, 3, 3, (1, 1), (2, 1, 2, 1), (2, 1), 1, id="3x3-dilated-rows"),
    P(1, 40, 13, 15, 48, 3, 3, (2, 2), (1, 2, 1, 2), (1, 2), 1, id="3x3-dilated-columns-stride2"),
    P(2, 40, 9, 11, 36, 1, 3, (1, 1), (0, 1, 0, 1), (1, 1), 1, id="1x3"),
    P(2, 40, 9, 11, 36, 3, 1, (1, 1), (1, 0, 1, 0), (1, 1), 1, id="3x1"),
    P(1, 12, 12, 10, 40, 5, 3, (2, 1), (2, 1, 2, 1), (1, 1), 1, id="5x3-stride-2-1"),
    P(4, 32, 4, 4, 32, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1, id="kernel-larger-than-input"),
    P(2, 32, 12, 13, 64, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2, id="group2"),         # 16·9 = 144 per group
    P(3, 16, 15, 17, 32, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="batch3-split-inside-images"),
    P(2, 600, 1, 1, 32, 1, 1, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="1x1-padded-one-pixel"),
    P(1, 40, 20, 21, 48, 3, 3, (2, 2), (0, 0, 0, 0), (1, 1), 1, id="valid-stride2-rows-left-over"),  # 9·10 = 90
    # 1×1 stride 1 on a 7×7 plane, more channels than pointwise_conv.c takes: the direct tiles
    # read a copy of the input laid out tile by tile (W a graph input: im2col + sgemm);
    # 49 = 4·6 + 5·5 positions, 100 = 6·16 + 4 channels.
    P(2, 384, 7, 7, 100, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="1x1-small-plane"),
    # The copy by tile at its edges: 64 positions (the most it takes) of one image whose 384 ≥
    # 3·64 input channels the two threads split, each copying its own; 72 positions read in place;
    # stride 2 onto 7×8 = 56 positions of three images; 13 positions dealt 5 + 4 + 4, the tiles
    # of 4 scattered one value at a time.
    P(1, 384, 8, 8, 64, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="1x1-copy-by-tile-channel-split"),
    P(1, 96, 8, 9, 40, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="1x1-72-positions-in-place"),
    P(3, 72, 13, 15, 36, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1, id="1x1-stride2-copy-by-tile"),
    P(2, 40, 1, 13, 48, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="1x1-13-positions"),
    P(2, 300, 3, 1, 32, 2, 2, (1, 10), (0, 5, 0, 1), (1, 1), 1, id="pad-wider-than-the-window"),
    # Planes smaller than a tile: the direct tiles deal positions out evenly, so these take tiles
    # of 1 and of 4 + 3 positions, each summing only its own (48 channels: three whole blocks).
    P(2, 40, 3, 3, 48, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="one-position"),
    P(1, 40, 3, 9, 48, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1, id="seven-positions"),
    # Two images whose padded copies (16 × 364² floats each) do not fit the 4 Mi-float scratch cap
    # together: the direct path pads and multiplies them one chunk at a time.
    P(2, 16, 362, 362, 32, 2, 2, (1, 1), (1, 1, 1, 1), (1, 1), 1, id="batch-in-chunks-of-one"),
]

# With W a constant, Conv takes conv_direct.c (or winograd_conv.c, see the docstring); as a graph
# input, the panels, or im2col + sgemm for a 1×1 stride-1 unpadded one (1x1-small-plane).
PATHS = ["direct", "panels"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("N,C,H,W,M,kH,kW,strides,pads,dilations,group", CASES)
def test_conv(rng, path, N, C, H, W, M, kH, kW, strides, pads, dilations, group):
    """Two threads, each taking part of the tiles or panels."""
    X, Wt, B = randn(rng, N, C, H, W), randn(rng, M, C // group, kH, kW), randn(rng, M)
    kw = dict(strides=strides, pads=pads, dilations=dilations, group=group)
    expected = ref.conv2d(X, Wt, B, **kw)
    data, inputs = conv_model(X, Wt, B, expected, w_input=path == "panels", strides=list(strides), pads=list(pads),
                              dilations=list(dilations), group=group)
    got = run_bytes(data, inputs, "cpu", threads=2)["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, absolute=True, **kw))


@pytest.mark.parametrize("path", PATHS)
def test_one_thread_on_a_large_plane(rng, path):
    """48×50 = 2400 outputs on one thread: the panels in passes of 16 and a short last one."""
    X, Wt, B = randn(rng, 1, 20, 48, 50), randn(rng, 32, 20, 3, 3), randn(rng, 32)
    expected = ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1))
    data, inputs = conv_model(X, Wt, B, expected, w_input=path == "panels", pads=[1, 1, 1, 1])
    got = run_bytes(data, inputs, "cpu", threads=1)["Y"]
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1), absolute=True))


def test_reduction_of_exactly_one_block(rng):
    """C·kH·kW = 512: one block, no partial sums stored; 1 + 512 = 513 takes a second block of one."""
    for channels in (512, 513):
        X, Wt = randn(rng, 2, channels, 6, 6), randn(rng, 32, channels, 1, 1)
        expected = ref.conv2d(X, Wt, None, strides=(2, 2))
        data, inputs = conv_model(X, Wt, None, expected, w_input=True, strides=[2, 2])
        got = run_bytes(data, inputs, "cpu", threads=2)["Y"]
        assert_reduction_close(got, expected, ref.conv2d(X, Wt, None, strides=(2, 2), absolute=True))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("fused", ["relu", "clip"])
def test_fused_clamp_lets_nan_through(rng, fused, path):
    """Conv → Relu / Clip(0, 6) fuse into the tiles' epilogue (the panels': after the last block only):
    a NaN in the input comes out NaN (not 0 or 6) at every output that reads it, the others clamped."""
    X, Wt, B = randn(rng, 1, 64, 10, 10), randn(rng, 40, 64, 3, 3), randn(rng, 40)
    X[0, 5, 4, 4] = np.nan
    pre = ref.conv2d(X, Wt, B, pads=(1, 1, 1, 1))
    expected = np.maximum(pre, 0) if fused == "relu" else np.clip(pre, 0, 6)
    data, inputs = conv_model(X, Wt, B, expected, w_input=path == "panels", fused=fused, pads=[1, 1, 1, 1])
    outputs, report = run_bytes(data, inputs, "cpu", optimize=True, report=True, threads=2)
    got = outputs["Y"]
    assert report.node_count == 1  # the activation was fused into the Conv
    nan = np.isnan(pre)
    assert nan.sum() == 40 * 9 and np.array_equal(np.isnan(got), nan)
    bound = ref.conv2d(np.nan_to_num(X), Wt, B, pads=(1, 1, 1, 1), absolute=True)
    assert_reduction_close(got[~nan], expected[~nan], bound[~nan])
    assert got[~nan].min() >= 0 and (fused == "relu" or got[~nan].max() <= 6)
