"""A 1×1 Conv → Clip → depthwise Conv → Clip chain (a MobileNetV2 block's first two layers), which
the graph passes make one ExpandDepthwiseConv node: against numpy on both backends with the passes
on and off; bit for bit what the two convolutions compute unfused on the CPU on these shapes (the
fused kernel sums in the same order); the shapes the CPU's fused kernel takes (AVX2, planes up to 28×28,
expanded channels a multiple of 16, a 3-wide kernel at column stride 1 or 2 on the depthwise lanes
path) and the ones it leaves to the two convolutions' own kernels; NaN through both clamps; the
node written by hand, and malformed."""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
import swiftlet
from conftest import assert_reduction_close, model_bytes, randn, run_bytes
from swiftlet import swl

P = pytest.param
CASES = [  # N, C, H, W, E, kH, kW, strides, pads, dilations, biases (expansion's, depthwise's)
    P(2, 5, 9, 8, 32, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), "both", id="fused-3x3-batch2"),
    P(1, 7, 11, 13, 16, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), "both", id="fused-stride2-ragged"),
    P(1, 3, 7, 7, 48, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), "none", id="fused-7x7-no-biases"),
    P(1, 3, 6, 7, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), "first", id="fused-expansion-bias-only"),
    P(1, 3, 7, 6, 16, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), "second", id="fused-depthwise-bias-only"),
    P(1, 4, 10, 9, 16, 4, 3, (2, 1), (2, 1, 0, 0), (2, 1), "both", id="fused-tall-dilated-asymmetric"),
    P(1, 4, 9, 10, 16, 3, 3, (2, 2), (1, 0, 0, 1), (1, 1), "both", id="fused-rows-never-read"),
    P(1, 6, 8, 8, 24, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), "both", id="fallback-24-channels"),
    P(1, 6, 8, 8, 24, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), "second", id="fallback-depthwise-bias-only"),
    P(1, 2, 6, 114, 16, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), "both", id="fallback-strided-rows"),
    P(1, 3, 9, 9, 16, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), "both", id="fallback-5x5"),
    P(1, 4, 29, 30, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), "first", id="fallback-plane-past-28x28"),
]


def chain(X, W1, B1, W2, B2, strides, pads, dilations, clamps=((0, 6), (0, 6))):
    """The model bytes of Conv → Clip → depthwise Conv → Clip, and numpy's output and bound."""
    E = W1.shape[0]
    kw = dict(strides=strides, pads=pads, dilations=dilations, group=E)
    expanded = np.clip(ref.conv2d(X, W1, B1), *clamps[0])
    expected = np.clip(ref.conv2d(expanded, W2, B2, **kw), *clamps[1])
    bound = ref.conv2d(np.abs(expanded), np.abs(W2), None if B2 is None else np.abs(B2), **kw) \
        + ref.conv2d(ref.conv2d(X, W1, B1, absolute=True), np.abs(W2), **kw)
    consts = {"W1": W1, **({"B1": B1} if B1 is not None else {}), "W2": W2, **({"B2": B2} if B2 is not None else {})}
    nodes = [swl.node("Conv", ["X", "W1"] + (["B1"] if B1 is not None else []), ["E"], name="expand"),
             swl.node("Clip", ["E"], ["Ec"], name="expand_clip", min=float(clamps[0][0]), max=float(clamps[0][1])),
             swl.node("Conv", ["Ec", "W2"] + (["B2"] if B2 is not None else []), ["D"], name="depthwise",
                      strides=list(strides), pads=list(pads), dilations=list(dilations), group=E),
             swl.node("Clip", ["D"], ["Y"], name="depthwise_clip", min=float(clamps[1][0]), max=float(clamps[1][1]))]
    data = model_bytes(nodes, {"X": X}, {"Y": expected.astype(np.float32)}, consts)
    return data, expected, bound


def weights(rng, C, E, kH, kW, biases="both"):
    return (randn(rng, E, C, 1, 1), randn(rng, E) if biases in ("both", "first") else None,
            randn(rng, E, 1, kH, kW), randn(rng, E) if biases in ("both", "second") else None)


@pytest.mark.parametrize("N,C,H,W,E,kH,kW,strides,pads,dilations,biases", CASES)
def test_matches_numpy(backend, optimize, rng, N, C, H, W, E, kH, kW, strides, pads, dilations, biases):
    X = randn(rng, N, C, H, W)
    data, expected, bound = chain(X, *weights(rng, C, E, kH, kW, biases), strides, pads, dilations)
    outputs, report = run_bytes(data, {"X": X}, backend, optimize=optimize, report=True)
    assert_reduction_close(outputs["Y"], expected, bound)
    if optimize:
        assert report.node_count == 1  # one ExpandDepthwiseConv ran


@pytest.mark.parametrize("N,C,H,W,E,kH,kW,strides,pads,dilations,biases", CASES)
def test_fused_equals_unfused_bit_for_bit(rng, N, C, H, W, E, kH, kW, strides, pads, dilations, biases):
    """Unfused, these expansions run pointwise_conv.c's or conv_direct.c's tiles, which sum as the
    fused kernel does (sgemm's long reductions would not)."""
    X = randn(rng, N, C, H, W)
    data, _, _ = chain(X, *weights(rng, C, E, kH, kW, biases), strides, pads, dilations)
    fused = run_bytes(data, {"X": X}, "cpu", optimize=True)["Y"]
    unfused = run_bytes(data, {"X": X}, "cpu", optimize=False)["Y"]
    assert np.array_equal(fused, unfused)


def test_split_over_two_threads(rng):
    """3 images × 6 panels of 16 channels: the second thread's panels start inside image 1."""
    X = randn(rng, 3, 24, 28, 28)
    data, expected, bound = chain(X, *weights(rng, 24, 96, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    one = run_bytes(data, {"X": X}, "cpu", optimize=True)["Y"]
    two = run_bytes(data, {"X": X}, "cpu", optimize=True, threads=2)["Y"]
    assert_reduction_close(two, expected, bound)
    assert np.array_equal(one, two)


def test_nan_passes_both_clamps(backend, rng):
    """A NaN input pixel makes every expanded channel NaN there (max and min pass NaN), and each
    depthwise output whose window holds it; ±∞ saturate in the expansion's clamp."""
    X, (W1, B1, W2, B2) = randn(rng, 1, 4, 8, 8), weights(rng, 4, 16, 3, 3)
    X[0, 2, 3, 5] = np.nan
    X[0, :, 7, 0] = np.inf
    data, expected, _ = chain(X, W1, B1, W2, B2, (1, 1), (1, 1, 1, 1), (1, 1))
    got = run_bytes(data, {"X": X}, backend, optimize=True)["Y"]
    assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.isnan(got[:, :, 2:5, 4:7]).all()
    finite = ~np.isnan(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-5)


def test_written_by_hand(backend, rng):
    """The node as a .swl file may hold it, with its own clamp attributes."""
    X, (W1, B1, W2, B2) = randn(rng, 1, 3, 6, 7), weights(rng, 3, 16, 3, 3)
    expanded = np.clip(ref.conv2d(X, W1, B1), -0.5, 1.0)
    expected = np.clip(ref.conv2d(expanded, W2, B2, pads=(1, 1, 1, 1), group=16), 0.0, 2.0)
    node = swl.node("ExpandDepthwiseConv", ["X", "W1", "W2", "B1", "B2"], ["Y"], name="fused", pads=[1, 1, 1, 1],
                    group=16, expansion_clip_min=-0.5, expansion_clip_max=1.0, clip_min=0.0, clip_max=2.0)
    data = model_bytes([node], {"X": X}, {"Y": expected.astype(np.float32)}, {"W1": W1, "B1": B1, "W2": W2, "B2": B2})
    got = run_bytes(data, {"X": X}, backend)["Y"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs,w2_shape,status,words", [
    (dict(group=16, expansion_stride=[2, 2]), (16, 1, 3, 3), "SWL_STATUS_INVALID_MODEL", "expansion_stride"),
    (dict(group=8), (16, 2, 3, 3), "SWL_STATUS_INVALID_ARGUMENT", "not depthwise"),
    (dict(group=16, expansion_clip_min=2.0, expansion_clip_max=1.0), (16, 1, 3, 3), "SWL_STATUS_INVALID_MODEL",
     "clip_min"),
], ids=["unknown-attribute", "not-depthwise", "clamp-inverted"])
def test_malformed_node_is_refused(backend, rng, attrs, w2_shape, status, words):
    X, W1 = randn(rng, 1, 3, 6, 6), randn(rng, 16, 3, 1, 1)
    node = swl.node("ExpandDepthwiseConv", ["X", "W1", "W2"], ["Y"], name="fused", **attrs)
    data = model_bytes([node], {"X": X}, {"Y": (np.float32, [1, 16, 4, 4])}, {"W1": W1, "W2": randn(rng, *w2_shape)})
    with pytest.raises(swiftlet.SwiftletError) as e:
        run_bytes(data, {"X": X}, backend)
    assert e.value.status_name == status and words in e.value.message, str(e.value)
