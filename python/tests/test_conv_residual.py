"""Conv + Add (+ Relu) as one node (FuseConvResidual, ConvResidual): the residual connections of
ResNet and MobileNetV2. Each CPU convolution path adds a Z of the convolution's own shape in its
epilogue, before the fused clamp; a Z that broadcasts, and the depthwise and pattern-sparse
kernels, take a pass after the convolution. Every case against numpy in float64, on the
reference backend too; then what must not fuse, a Conv node given a Z directly, bad Z, a
BatchNormalization after a Conv that already carries a clamp or a residual, and a compressed
model whose pattern-sparse convolution keeps its residual."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

import numpy_ops as ref
import swiftlet
from conftest import BACKENDS, assert_reduction_close, graph_nodes, model_bytes, randn, run_bytes
from safetensors.numpy import load_file
from swiftlet import swl

P = pytest.param
# Shapes that take each CPU path (BLASKernels.conv's order), W a constant unless `w_input`:
PATHS = [  # N, C, H, W, M, k, stride, pad, group, w_input, threads
    # conv_direct.c: a constant W, 3×3, 576 terms a sum; 40 output channels leave the second block
    # of 16 half empty, 11×13 = 143 positions go 23 tiles of 6 and one of 5.
    P(1, 64, 11, 13, 40, 3, 1, 1, 1, False, 2, id="direct"),
    # conv_direct.c on a 1×1 stride-1 convolution of a 7×7 plane: the input read in place, tiles
    # of 6 and of 5 positions (too little work to split).
    P(1, 240, 7, 7, 40, 1, 1, 0, 1, False, 2, id="direct-1x1"),
    # One image reading 3+ times the channels it writes: the threads split the input channels (a
    # partial sum each, finished with bias, Z and clamp after), on 2 threads, on 3 (two partials),
    # and from the zero-padded copy each thread makes of its channels.
    P(1, 576, 7, 7, 160, 1, 1, 0, 1, False, 2, id="direct-1x1-channels-over-2-threads"),
    P(1, 576, 14, 14, 96, 1, 1, 0, 1, False, 3, id="direct-1x1-channels-over-3-threads"),
    P(1, 96, 10, 10, 32, 3, 1, 1, 1, False, 2, id="direct-padded-channels-over-2-threads"),
    # conv_shallow.c: a constant W, 3 channels × 3×3 = 27 terms a sum, stride 2 onto rows of 35
    # outputs (the last block of each row masked, Z read masked too); 34 = 4·8 + 2 channels, whose
    # 9 blocks split over 2 threads.
    P(1, 3, 80, 70, 34, 3, 2, 1, 1, False, 2, id="shallow"),
    # conv_panels.c: W a graph input, 48×50 = 2400 positions (the panels even on one thread);
    # 576 terms a sum, two blocks of the reduction, Z added after the last only.
    P(1, 64, 48, 50, 32, 3, 1, 1, 1, True, 1, id="panels"),
    # The panels per group: two groups of 32 output channels, Z offset by group.
    P(1, 64, 48, 50, 64, 3, 1, 1, 2, True, 2, id="panels-group2"),
    # pointwise_conv.c: 1×1 stride 1, 48 ≤ 192 input channels, 16×16 ≥ 196 positions.
    P(2, 48, 16, 16, 40, 1, 1, 0, 1, False, 2, id="pointwise"),
    # One image: a projection (3+ times the channels in as out) splits its input channels over
    # the threads, partial sums finished with bias, Z and clamp after; an expansion splits its
    # output channels (in 6-row tiles: 40 = 12 + 12 + 16 over 3 threads).
    P(1, 144, 28, 28, 32, 1, 1, 0, 1, False, 2, id="pointwise-channels-over-2-threads"),
    P(1, 144, 28, 28, 32, 1, 1, 0, 1, False, 3, id="pointwise-channels-over-3-threads"),
    P(1, 24, 28, 28, 40, 1, 1, 0, 1, False, 3, id="pointwise-expansion-over-3-threads"),
    # 40×30 = 1200 positions: blocks of 512 (the last one 176), Z offset by block and row tile.
    P(1, 48, 40, 30, 40, 1, 1, 0, 1, False, 1, id="pointwise-blocks"),
    P(1, 48, 40, 30, 40, 1, 1, 0, 1, False, 2, id="pointwise-blocks-2-threads"),
    # 14×14 = 196 positions: the last 4 of each image in a masked tile (Z read masked too).
    P(1, 48, 14, 14, 40, 1, 1, 0, 1, False, 1, id="pointwise-short-tile"),
    # conv_small_plane.c: 16 < 32 output channels onto 7×7, each image unfolded whole; one image,
    # and three split over the threads (W a graph input: read in place all the same).
    P(1, 24, 14, 14, 16, 1, 2, 0, 1, False, 2, id="small-plane"),
    P(3, 24, 14, 14, 16, 3, 2, 1, 1, True, 2, id="small-plane-images-over-2-threads"),
    # im2col + sgemm, one image written straight into Y: 1×1 stride 2, 16 < 32 output channels
    # onto 32×32 (too large an unfolding for the small-plane kernel).
    P(1, 24, 64, 64, 16, 1, 2, 0, 1, False, 2, id="sgemm-one-image"),
    # im2col + sgemm, a chunk of 3 images multiplied together, then scattered into Y.
    P(3, 24, 64, 64, 16, 1, 2, 0, 1, False, 2, id="sgemm-chunk-of-images"),
    # depthwise_conv.c (group = C = M), whose residual is a pass after it.
    P(2, 24, 13, 13, 24, 3, 1, 1, 24, False, 2, id="depthwise"),
]


def conv_kw(k, stride, pad, group):
    return dict(strides=(stride, stride), pads=(pad,) * 4, group=group)


def residual_model(X, Wt, B, Z, expected, *, w_input, activation=None, z_first=False, extra_outputs=(), **attrs):
    """Conv(X, W, B) → Add with Z (Z first with `z_first`) → optional Relu/Clip, as an exporter writes it."""
    nodes = [swl.node("Conv", ["X", "W", "B"], ["C"], name="conv", **attrs),
             swl.node("Add", ["Z", "C"] if z_first else ["C", "Z"], ["S" if activation else "Y"], name="add")]
    if activation == "relu":
        nodes.append(swl.node("Relu", ["S"], ["Y"], name="relu"))
    elif activation == "clip":
        nodes.append(swl.node("Clip", ["S"], ["Y"], name="clip", min=0.0, max=6.0))
    inputs = {"X": X, "Z": Z, **({"W": Wt} if w_input else {})}
    outputs = {"Y": expected.astype(np.float32), **{name: value.astype(np.float32) for name, value in extra_outputs}}
    return model_bytes(nodes, inputs, outputs, {"B": B, **({} if w_input else {"W": Wt})})


def expected_of(X, Wt, B, Z, activation, kw):
    pre = ref.conv2d(X, Wt, B, **kw) + np.asarray(Z, np.float64)
    bound = ref.conv2d(X, Wt, B, absolute=True, **kw) + np.abs(np.asarray(Z, np.float64))
    if activation == "relu":
        return np.maximum(pre, 0), bound
    if activation == "clip":
        return np.clip(pre, 0, 6), bound
    return pre, bound


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation,z_first", [(None, False), ("relu", True), ("clip", False)])
@pytest.mark.parametrize("N,C,H,W,M,k,stride,pad,group,w_input,threads", PATHS)
def test_residual_fused_on_every_path(rng, backend, activation, z_first, N, C, H, W, M, k, stride, pad, group, w_input,
                                      threads):
    """Conv + Add (+ Relu / Clip) runs as one node and equals act(conv(X) + Z)."""
    kw = conv_kw(k, stride, pad, group)
    X, Wt, B = randn(rng, N, C, H, W), randn(rng, M, C // group, k, k), randn(rng, M)
    out_shape = ref.conv2d(X, Wt, B, **kw).shape
    Z = randn(rng, *out_shape, scale=2.0)
    expected, bound = expected_of(X, Wt, B, Z, activation, kw)
    data = residual_model(X, Wt, B, Z, expected, w_input=w_input, activation=activation, z_first=z_first,
                          strides=[stride] * 2, pads=[pad] * 4, group=group)
    feeds = {"X": X, "Z": Z, **({"W": Wt} if w_input else {})}
    outputs, report = run_bytes(data, feeds, backend, optimize=True, report=True, threads=threads)
    assert report.node_count == 1  # Conv, Add and the activation are one node
    assert_reduction_close(outputs["Y"], expected, bound)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("z_shape", [(1, 32, 1, 1), (9,), (2, 32, 8, 9)], ids=["per-channel", "last-axis", "grows-the-batch"])
def test_residual_that_broadcasts(rng, backend, z_shape):
    """A Z the Add broadcast is broadcast the same way, after the convolution: per channel, along
    the last axis, and one that makes the output larger than the convolution (batch 1 → 2)."""
    X, Wt, B = randn(rng, 1, 64, 8, 9), randn(rng, 32, 64, 3, 3), randn(rng, 32)
    kw = conv_kw(3, 1, 1, 1)
    Z = randn(rng, *z_shape)
    expected, bound = expected_of(X, Wt, B, Z, "relu", kw)
    data = residual_model(X, Wt, B, Z, expected, w_input=False, activation="relu", pads=[1] * 4)
    outputs, report = run_bytes(data, {"X": X, "Z": Z}, backend, optimize=True, report=True, threads=2)
    assert report.node_count == 1 and outputs["Y"].shape == expected.shape
    assert_reduction_close(outputs["Y"], expected, bound)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("w_input", [False, True], ids=["direct", "panels"])
def test_nan_in_the_residual_passes_the_relu(rng, backend, w_input):
    """Z is added before the clamp: a NaN in Z comes out NaN, a large negative Z clamps to 0."""
    X, Wt, B = randn(rng, 1, 64, 48, 50), randn(rng, 32, 64, 3, 3), randn(rng, 32)
    kw = conv_kw(3, 1, 1, 1)
    Z = randn(rng, 1, 32, 48, 50)
    Z[0, 3, 7, 11] = np.nan
    Z[0, 4, 0, 0] = -1e30
    expected, bound = expected_of(X, Wt, B, Z, "relu", kw)
    data = residual_model(X, Wt, B, Z, expected, w_input=w_input, activation="relu", pads=[1] * 4)
    got = run_bytes(data, {"X": X, "Z": Z, **({"W": Wt} if w_input else {})}, backend, optimize=True, threads=2)["Y"]
    assert np.isnan(got[0, 3, 7, 11]) and np.isnan(got).sum() == 1 and got[0, 4, 0, 0] == 0
    assert_reduction_close(got, expected, bound)


def test_what_does_not_fuse(rng):
    """The Conv's output also a graph output: the Add stays (and both are right). A Relu between
    Conv and Add folds into the Conv; the Add stays, after the clamp."""
    X, Wt, B = randn(rng, 1, 32, 10, 10), randn(rng, 32, 32, 3, 3), randn(rng, 32)
    kw = conv_kw(3, 1, 1, 1)
    conv = ref.conv2d(X, Wt, B, **kw)
    Z = randn(rng, *conv.shape)
    expected = conv + Z
    data = residual_model(X, Wt, B, Z, expected, w_input=False, extra_outputs=[("C", conv)], pads=[1] * 4)
    outputs, report = run_bytes(data, {"X": X, "Z": Z}, "cpu", optimize=True, report=True)
    assert report.node_count == 2
    bound = ref.conv2d(X, Wt, B, absolute=True, **kw)
    assert_reduction_close(outputs["C"], conv, bound)
    assert_reduction_close(outputs["Y"], expected, bound + np.abs(Z))

    nodes = [swl.node("Conv", ["X", "W", "B"], ["C"], name="conv", pads=[1] * 4),
             swl.node("Relu", ["C"], ["R"], name="relu"), swl.node("Add", ["R", "Z"], ["Y"], name="add")]
    expected = np.maximum(conv, 0) + Z
    data = model_bytes(nodes, {"X": X, "Z": Z}, {"Y": expected.astype(np.float32)}, {"W": Wt, "B": B})
    outputs, report = run_bytes(data, {"X": X, "Z": Z}, "cpu", optimize=True, report=True)
    assert report.node_count == 2
    assert_reduction_close(outputs["Y"], expected, bound + np.abs(Z))


def test_conv_with_a_clamp_keeps_its_add(rng):
    """A stored Conv that already clamps (a graph the passes ran on), then an Add: Z must not join
    it, since clamp(conv) + Z is not clamp(conv + Z)."""
    X, Wt = randn(rng, 1, 32, 9, 9), randn(rng, 32, 32, 3, 3)
    conv = ref.conv2d(X, Wt, None, pads=(1, 1, 1, 1))
    Z = randn(rng, *conv.shape)
    expected = np.maximum(conv, 0) + Z
    nodes = [swl.node("Conv", ["X", "W"], ["C"], name="conv", pads=[1] * 4, clip_min=0.0),
             swl.node("Add", ["C", "Z"], ["Y"], name="add")]
    data = model_bytes(nodes, {"X": X, "Z": Z}, {"Y": expected.astype(np.float32)}, {"W": Wt})
    outputs, report = run_bytes(data, {"X": X, "Z": Z}, "cpu", optimize=True, report=True)
    assert report.node_count == 2
    assert_reduction_close(outputs["Y"], expected, ref.conv2d(X, Wt, None, pads=(1, 1, 1, 1), absolute=True) + np.abs(Z))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pattern_conv_node_with_a_residual_and_no_bias(rng, backend):
    """A stored PatternConv(X, encoding…, "", Z): conv(X) + Z, on the pass after the kernel."""
    patterns = np.array([[0, 1, 3, 4], [4, 5, 7, 8]], np.int32)
    ids, channels = np.array([0, 1, 1], np.uint8), np.array([0, 1, 0], np.int32)
    values, pointers = randn(rng, 3, 4), np.array([0, 2, 3], np.int32)
    dense = np.zeros((2, 2, 9), np.float32)
    for s, (o, c) in enumerate([(0, 0), (0, 1), (1, 0)]):
        dense[o, c, patterns[ids[s]]] = values[s]
    dense = dense.reshape(2, 2, 3, 3)
    X = randn(rng, 1, 2, 6, 7)
    conv = ref.conv2d(X, dense, None, pads=(1, 1, 1, 1))
    Z = randn(rng, *conv.shape)
    consts = {"values": values, "patterns": patterns, "ids": ids, "channels": channels, "pointers": pointers}
    node = swl.node("PatternConv", ["X", *consts, "", "Z"], ["Y"], name="pc", weight_shape=[2, 2, 3, 3], pads=[1] * 4)
    data = model_bytes([node], {"X": X, "Z": Z}, {"Y": (np.float32, conv.shape)}, consts)
    got = run_bytes(data, {"X": X, "Z": Z}, backend, optimize=False)["Y"]
    assert_reduction_close(got, conv + Z, ref.conv2d(X, dense, None, pads=(1, 1, 1, 1), absolute=True) + np.abs(Z))


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_node_with_a_residual_and_no_bias(rng, backend):
    """A stored Conv(X, W, "", Z) with clip_min/clip_max: clamp(conv(X) + Z), with no passes."""
    X, Wt = randn(rng, 2, 40, 9, 7), randn(rng, 48, 40, 3, 3)
    kw = conv_kw(3, 1, 1, 1)
    Z = randn(rng, 2, 48, 9, 7, scale=3.0)
    expected = np.clip(ref.conv2d(X, Wt, None, **kw) + Z, -1.0, 2.0)
    node = swl.node("Conv", ["X", "W", "", "Z"], ["Y"], name="conv", pads=[1] * 4, clip_min=-1.0, clip_max=2.0)
    data = model_bytes([node], {"X": X, "Z": Z}, {"Y": expected.astype(np.float32)}, {"W": Wt})
    got = run_bytes(data, {"X": X, "Z": Z}, backend, optimize=False, threads=2)["Y"]
    assert got.min() == -1.0 and got.max() == 2.0
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, None, absolute=True, **kw) + np.abs(Z))


@pytest.mark.parametrize("z,status,message", [
    (np.zeros((1, 8, 6, 6), np.int64), "SWL_STATUS_UNSUPPORTED", "Z (the residual added to the convolution) must be F32"),
    (np.zeros((1, 9, 6, 6), np.float32), "SWL_STATUS_INVALID_ARGUMENT", "does not broadcast with the convolution's output"),
], ids=["i64", "wrong-channels"])
def test_bad_residual_is_a_clear_error(rng, z, status, message):
    X, Wt = randn(rng, 1, 4, 6, 6), randn(rng, 8, 4, 3, 3)
    node = swl.node("Conv", ["X", "W", "", "Z"], ["Y"], name="conv", pads=[1] * 4)
    data = model_bytes([node], {"X": X, "Z": z}, {"Y": (np.float32, (1, 8, 6, 6))}, {"W": Wt})
    with pytest.raises(swiftlet.SwiftletError) as info:
        run_bytes(data, {"X": X, "Z": z}, "cpu")
    assert info.value.status_name == status and message in info.value.message and "conv" in info.value.message


@pytest.mark.parametrize("carried", ["clamp", "residual"])
def test_batch_norm_after_a_fused_conv_is_not_folded(rng, carried):
    """BatchNormalization after a Conv that already carries a clamp or a residual (a graph read
    back from a .swl the passes ran on) normalizes what that Conv outputs: folding it into W and
    B would scale the clamp's bounds or Z too."""
    X, Wt, B = randn(rng, 1, 8, 7, 7), randn(rng, 16, 8, 3, 3), randn(rng, 16)
    scale, shift, mean = randn(rng, 16), randn(rng, 16), randn(rng, 16)
    variance = rng.uniform(0.5, 2.0, 16).astype(np.float32)
    kw = conv_kw(3, 1, 1, 1)
    conv = ref.conv2d(X, Wt, B, **kw)
    Z = randn(rng, *conv.shape)
    feeds = {"X": X, **({"Z": Z} if carried == "residual" else {})}
    if carried == "clamp":
        pre, attrs, inputs = np.maximum(conv, 0), dict(clip_min=0.0), ["X", "W", "B"]
    else:
        pre, attrs, inputs = conv + Z, {}, ["X", "W", "B", "Z"]
    k = scale / np.sqrt(variance.astype(np.float64) + 1e-5)
    expected = pre * k.reshape(1, -1, 1, 1) + (shift - mean * k).reshape(1, -1, 1, 1)
    nodes = [swl.node("Conv", inputs, ["C"], name="conv", pads=[1] * 4, **attrs),
             swl.node("BatchNormalization", ["C", "s", "b", "m", "v"], ["Y"], name="bn")]
    data = model_bytes(nodes, feeds, {"Y": expected.astype(np.float32)},
                       {"W": Wt, "B": B, "s": scale, "b": shift, "m": mean, "v": variance})
    outputs, report = run_bytes(data, feeds, "cpu", optimize=True, report=True)
    assert report.node_count == 2
    bound = (ref.conv2d(X, Wt, B, absolute=True, **kw) + np.abs(Z)) * np.abs(k).reshape(1, -1, 1, 1) + 1e-6
    assert_reduction_close(outputs["Y"], expected, bound)


def decoded_weight(stored, name, shape):
    """The dense W a stored PatternConv encodes (PatternSparseWeight's layout)."""
    dense = np.zeros((shape[0], shape[1], shape[2] * shape[3]), np.float32)
    pointers, channels = stored[f"{name}.w_kernels"], stored[f"{name}.w_channels"]
    for o in range(shape[0]):
        for s in range(pointers[o], pointers[o + 1]):
            dense[o, channels[s], stored[f"{name}.w_patterns"][stored[f"{name}.w_ids"][s]]] = stored[f"{name}.w_values"][s]
    return dense.reshape(shape)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compressed_conv_keeps_its_residual(tmp_path, cli, rng, backend):
    """`swiftlet compress --prune pattern` on Conv + Add + Relu writes a PatternConv and keeps the
    Add and Relu apart (what --drop-layers names); a session fuses all three into the PatternConv,
    which computes relu(conv_pruned(X) + Z)."""
    w, b = randn(rng, 24, 16, 3, 3), randn(rng, 24)
    swl.write_model(str(tmp_path / "dense.swl"),
                    inputs=[swl.value_info("x", "F32", [2, 16, 10, 10]), swl.value_info("z", "F32", [2, 24, 10, 10])],
                    outputs=[swl.value_info("y", "F32", [2, 24, 10, 10])],
                    nodes=[swl.node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                           swl.node("Add", ["c", "z"], ["s"], name="add"), swl.node("Relu", ["s"], ["y"], name="relu")],
                    tensors={"w": w, "b": b})
    result = subprocess.run([cli, "compress", str(tmp_path / "dense.swl"), str(tmp_path / "p.swl"), "--prune", "pattern",
                             "--sparsity", "0.7"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ops = {name: node["op"] for name, node in graph_nodes(tmp_path / "p.swl").items()}
    assert ops == {"conv": "PatternConv", "add": "Add", "relu": "Relu"}
    pruned = decoded_weight(load_file(str(tmp_path / "p.swl")), "conv", w.shape)
    assert (pruned == 0).mean() == pytest.approx(0.7, abs=0.01)
    x, z = randn(rng, 2, 16, 10, 10), randn(rng, 2, 24, 10, 10)
    kw = conv_kw(3, 1, 1, 1)
    expected = np.maximum(ref.conv2d(x, pruned, b, **kw) + z, 0)
    with swiftlet.Model(str(tmp_path / "p.swl")) as model, model.session(backend=backend, threads=2) as session:
        got, report = session.run({"x": x, "z": z}, report=True)
        got = got["y"]
    assert report.node_count == 1
    assert_reduction_close(got, expected, ref.conv2d(x, pruned, b, absolute=True, **kw) + np.abs(z))
