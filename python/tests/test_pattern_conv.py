"""Pattern-sparse convolutions (PatDNN's pattern + connectivity pruning; issue 4): the
PatternConv op on every backend against numpy's convolution of the decoded weight, `swiftlet
compress --prune pattern` (which pattern each kernel keeps, how many kernels go), and malformed
encodings, which must be invalid models."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

import numpy_ops as ref
import swiftlet
from conftest import BACKENDS, DATA, MODELS, assert_reduction_close, graph_nodes, model_bytes, randn, run_bytes
from safetensors.numpy import load_file
from swiftlet import swl

# The compressor's pattern set: positions i·3 + j of a 3×3 kernel.
STANDARD = [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8],
            [1, 3, 4, 5], [1, 3, 4, 7], [1, 4, 5, 7], [3, 4, 5, 7]]


def encode(rng, m, cg, kh, kw, patterns, keep=0.6):
    """A random pattern-sparse weight: (tensors, dense W [m, cg, kh, kw])."""
    patterns = np.asarray(patterns, np.int32)
    kept = rng.random((m, cg)) < keep
    ids = rng.integers(0, len(patterns), kept.sum()).astype(np.uint8)
    values = randn(rng, kept.sum(), patterns.shape[1])
    pointers = np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int32)
    channels = np.nonzero(kept)[1].astype(np.int32)
    dense = np.zeros((m, cg, kh * kw), np.float32)
    for s, (o, c) in enumerate(zip(np.repeat(np.arange(m), kept.sum(axis=1)), channels)):
        dense[o, c, patterns[ids[s]]] = values[s]
    tensors = {"values": values, "patterns": patterns, "ids": ids, "channels": channels, "pointers": pointers}
    return tensors, dense.reshape(m, cg, kh, kw)


def pattern_conv_model(x, tensors, weight_shape, expected_shape, bias=None, **attrs):
    consts = dict(tensors, **({"B": bias} if bias is not None else {}))
    node = swl.node("PatternConv", ["X"] + list(consts), ["Y"], name="pc", weight_shape=list(weight_shape), **attrs)
    return model_bytes([node], {"X": x}, {"Y": (np.float32, expected_shape)}, consts)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("x_shape,weight_shape,strides,pads,dilations,group", [
    ((2, 16, 23, 19), (24, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),    # ResNet's 3×3, ragged plane
    ((1, 12, 20, 21), (16, 12, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),    # stride 2: four phases
    ((1, 8, 17, 15), (8, 4, 3, 3), (1, 2), (2, 0, 1, 2), (2, 1), 2),       # dilation, groups, uneven pads
    ((1, 6, 9, 9), (10, 6, 5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),        # 5×5 with 6-tap patterns
], ids=["3x3", "stride2", "dilated-grouped", "5x5"])
def test_pattern_conv_matches_dense(rng, backend, threads, x_shape, weight_shape, strides, pads, dilations, group):
    m, cg, kh, kw = weight_shape
    patterns = STANDARD if (kh, kw) == (3, 3) else [sorted(rng.choice(kh * kw, 6, replace=False)) for _ in range(5)]
    tensors, dense = encode(rng, m, cg, kh, kw, patterns)
    x, bias = randn(rng, *x_shape), randn(rng, m)
    kw_args = dict(strides=strides, pads=pads, dilations=dilations, group=group)
    expected = ref.conv2d(x, dense, bias, **kw_args)
    data = pattern_conv_model(x, tensors, weight_shape, expected.shape, bias, strides=list(strides), pads=list(pads),
                              dilations=list(dilations), group=group)
    with swiftlet.Model.from_bytes(data) as model, model.session(backend=backend, threads=threads) as session:
        got = session.run({"X": x})["Y"]
    assert_reduction_close(got, expected, ref.conv2d(x, dense, bias, absolute=True, **kw_args))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pattern_conv_clamp_and_empty_channels(rng, backend):
    """clip_min/clip_max as a fused ReLU6; an output channel with no kernel left is its clamped bias."""
    tensors, dense = encode(rng, 6, 5, 3, 3, STANDARD, keep=0.7)
    keep = [0, 2, 3, 4, 5]  # output channel 1 loses every kernel
    counts = np.diff(tensors["pointers"])
    starts = tensors["pointers"][:-1]
    select = np.concatenate([np.arange(starts[o], starts[o] + counts[o]) for o in keep])
    tensors = dict(tensors, values=tensors["values"][select], ids=tensors["ids"][select], channels=tensors["channels"][select],
                   pointers=np.concatenate([[0], np.cumsum([counts[o] if o in keep else 0 for o in range(6)])]).astype(np.int32))
    dense[1] = 0
    x, bias = randn(rng, 1, 5, 12, 12, scale=3.0), randn(rng, 6)
    expected = np.clip(ref.conv2d(x, dense, bias, pads=(1, 1, 1, 1)), 0, 6)
    data = pattern_conv_model(x, tensors, (6, 5, 3, 3), expected.shape, bias, pads=[1, 1, 1, 1], clip_min=0.0, clip_max=6.0)
    got = run_bytes(data, {"X": x}, backend)["Y"]
    assert got.min() == 0 and got.max() == 6  # both bounds reached
    np.testing.assert_array_equal(got[0, 1], np.full(got.shape[2:], np.clip(bias[1], 0, 6), np.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def conv_model(path, w, b, stride=1):
    m = w.shape[0]
    swl.write_model(str(path), inputs=[swl.value_info("x", "F32", ["n", w.shape[1], 14, 14])],
                    outputs=[swl.value_info("y", "F32", ["n", m, 14 // stride, 14 // stride])],
                    nodes=[swl.node("Conv", ["x", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1], strides=[stride, stride])],
                    tensors={"w": w, "b": b})


def compress(cli, src, dst, *flags):
    result = subprocess.run([cli, "compress", str(src), str(dst), *flags], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparsity", [5 / 9, 0.8])
def test_compress_prune_pattern(tmp_path, cli, rng, backend, sparsity):
    """Each kept kernel keeps the standard pattern holding most of its Σw² (first on ties) at
    the original values; the kernels removed are those keeping the least, as many as the
    sparsity asks for; the output is the pruned weight's convolution."""
    w, b = randn(rng, 20, 12, 3, 3), randn(rng, 20)
    conv_model(tmp_path / "dense.swl", w, b, stride=2)
    out = compress(cli, tmp_path / "dense.swl", tmp_path / "p.swl", "--prune", "pattern", "--sparsity", str(sparsity))
    assert "conv" in out and "pattern" in out
    stored = load_file(str(tmp_path / "p.swl"))
    np.testing.assert_array_equal(stored["conv.w_patterns"], STANDARD)
    flat = w.reshape(20 * 12, 9).astype(np.float64)
    energy = np.stack([(flat[:, p] ** 2).sum(axis=1) for p in STANDARD], axis=1)
    best = energy.argmax(axis=1)  # argmax takes the first maximum
    kept_energy = energy[np.arange(len(flat)), best]
    removed = int(round((sparsity - 5 / 9) / (4 / 9) * len(flat)))
    order = np.lexsort((np.arange(len(flat)), kept_energy))
    kept = np.ones(len(flat), bool)
    kept[order[:removed]] = False
    pruned = np.zeros_like(flat)
    for kernel in np.nonzero(kept)[0]:
        pruned[kernel, STANDARD[best[kernel]]] = flat[kernel, STANDARD[best[kernel]]]
    assert len(stored["conv.w_channels"]) == kept.sum()
    np.testing.assert_array_equal(stored["conv.w_ids"], best[kept])
    assert (pruned == 0).sum() / pruned.size == pytest.approx(sparsity, abs=4 / pruned.size)
    x = randn(rng, 3, 12, 14, 14)
    pruned = pruned.reshape(w.shape).astype(np.float32)
    expected = ref.conv2d(x, pruned, b, strides=(2, 2), pads=(1, 1, 1, 1))
    with swiftlet.Model(str(tmp_path / "p.swl")) as model, model.session(backend=backend) as session:
        got = session.run({"x": x})["y"]
    assert_reduction_close(got, expected, ref.conv2d(x, pruned, b, strides=(2, 2), pads=(1, 1, 1, 1), absolute=True))


def test_compress_pattern_skips_depthwise_and_fp32_rules(tmp_path, cli, rng):
    """A depthwise 3×3 (group = C) stays a Conv, as does one a --layer rule keeps fp32."""
    swl.write_model(str(tmp_path / "two.swl"), inputs=[swl.value_info("x", "F32", [1, 6, 10, 10])],
                    outputs=[swl.value_info("z", "F32", [1, 6, 10, 10])],
                    nodes=[swl.node("Conv", ["x", "w1"], ["y"], name="dw", pads=[1, 1, 1, 1], group=6),
                           swl.node("Conv", ["y", "w2"], ["y2"], name="full", pads=[1, 1, 1, 1]),
                           swl.node("Conv", ["y2", "w3"], ["z"], name="kept", pads=[1, 1, 1, 1])],
                    tensors={"w1": randn(rng, 6, 1, 3, 3), "w2": randn(rng, 6, 6, 3, 3), "w3": randn(rng, 6, 6, 3, 3)})
    compress(cli, tmp_path / "two.swl", tmp_path / "p.swl", "--prune", "pattern", "--sparsity", "0.6", "--layer", "kept=fp32")
    ops = {name: node["op"] for name, node in graph_nodes(tmp_path / "p.swl").items()}
    assert ops == {"dw": "Conv", "full": "PatternConv", "kept": "Conv"}


def test_compress_pattern_leaves_linear_layers_to_quantize(tmp_path, cli):
    """--prune pattern takes the 3×3 convolutions; --quantize still takes the linear layers; the
    compressed digits CNN gives the same logits on the CPU backend as on the reference backend.
    (Its accuracy, without fine-tuning, is in docs/BENCHMARKS.md.)"""
    out = compress(cli, MODELS / "digits_cnn.swl", tmp_path / "p.swl", "--prune", "pattern", "--sparsity", "0.6",
                   "--quantize", "int8")
    assert "pattern 60%" in out and "int8" in out
    ops = {node["op"] for node in graph_nodes(tmp_path / "p.swl").values()}
    assert {"PatternConv", "Int8Linear"} <= ops and "Conv" not in ops
    x = np.load(DATA / "digits_test_x.npy")
    logits = []
    with swiftlet.Model(str(tmp_path / "p.swl")) as model:
        for backend in BACKENDS:
            with model.session(backend=backend) as session:
                shape = (len(x),) + tuple(session.inputs[0].shape[1:])
                logits.append(next(iter(session.run({session.inputs[0].name: x.reshape(shape).astype(np.float32)}).values())))
    np.testing.assert_allclose(logits[1], logits[0], rtol=1e-4, atol=1e-4 * np.abs(logits[0]).max())


@pytest.mark.parametrize("flags,message", [
    (["--prune", "pattern", "--sparsity", "0.5"], "--sparsity must lie in 0.556…1"),
    (["--prune", "pattern"], "needs --sparsity"),
    (["--prune", "pattern", "--sparsity", "0.7", "--layer", "conv=fp32"], "found no convolution to prune"),
    (["--prune", "pattern", "--sparsity", "0.7", "--auto", "--max-loss-increase", "0.1"], "does not take --prune pattern"),
])
def test_compress_pattern_rejects_bad_arguments(tmp_path, cli, rng, flags, message):
    conv_model(tmp_path / "dense.swl", randn(rng, 4, 3, 3, 3), randn(rng, 4))
    result = subprocess.run([cli, "compress", str(tmp_path / "dense.swl"), str(tmp_path / "out.swl"), *flags],
                            capture_output=True, text=True)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "out.swl").exists()


def malformed(tensors, **changes):
    """`tensors` with some replaced: lists keep the tensor's dtype, arrays bring their own."""
    return dict(tensors, **{k: v if isinstance(v, np.ndarray) else np.asarray(v, tensors[k].dtype) for k, v in changes.items()})


@pytest.mark.parametrize("change,message", [
    (dict(ids=[0, 8, 1]), "pattern id 8 is out of range"),
    (dict(channels=[0, 0, 1]), "not increasing"),
    (dict(channels=[0, 3, 1]), "out of range 0..<3"),
    (dict(pointers=[0, 3, 1, 3], channels=[0, 1, 2]), "kernel pointers decrease at output channel 1"),
    (dict(pointers=[0, 1, 2, 2]), "running from 0 to the kernel count 3"),
    (dict(patterns=np.array(STANDARD[:7] + [[4, 4, 5, 7]], np.int32)), "not increasing"),
    (dict(patterns=np.array(STANDARD[:7] + [[4, 5, 7, 9]], np.int32)), "position 9 is out of range"),
    (dict(values=np.ones((3, 3), np.float32)), "values must be F32 [3, 4]"),
    (dict(ids=np.array([0, 1, 2], np.int32)), "pattern_ids must be U8 [3]"),
    (dict(pointers=[0, 3]), "kernel_pointers must be I32 [4]"),
])
def test_malformed_pattern_conv_is_an_invalid_model(change, message):
    tensors = {"values": np.ones((3, 4), np.float32), "patterns": np.array(STANDARD, np.int32),
               "ids": np.array([0, 1, 2], np.uint8), "channels": np.array([0, 2, 1], np.int32),
               "pointers": np.array([0, 2, 3, 3], np.int32)}
    tensors = malformed(tensors, **change)
    data = pattern_conv_model(np.zeros((1, 3, 5, 5), np.float32), tensors, (3, 3, 3, 3), (1, 3, 3, 3))
    with pytest.raises(swiftlet.SwiftletError) as e:
        swiftlet.Model.from_bytes(data).close()
    assert e.value.status_name == "SWL_STATUS_INVALID_MODEL", str(e.value)
    assert message in e.value.message, e.value.message
