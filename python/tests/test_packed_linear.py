"""Linear layers with a constant W run on panels packed once per model (packed_linear.c): shapes
where the packing's edges could go wrong — column counts that leave a short last panel (1030 =
64·16 + 6, 45 = 2·16 + 13, and fewer than 16), one row, a tile's short last rows (7, 40), a
reduction of 1 or 0 — on one thread and split over two, with and without a bias, with a fused
activation; 520 rows (past LinearKernel's packedRowsLimit: sgemm, and nothing packed, which
PackedLinearTests.swift checks) and a W that is a graph input. Checked against numpy in float64."""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
import swiftlet
from conftest import assert_reduction_close, model_bytes, randn, run_bytes
from swiftlet import swl


def linear_model(x, w, b, expected, activation=None, w_is_input=False):
    feeds = {"X": x, "W": w} if w_is_input else {"X": x}
    consts = {} if w_is_input else {"W": w}
    if b is not None:
        consts["b"] = b
    attrs = {"activation": activation} if activation else {}
    inputs = ["X", "W"] + (["b"] if b is not None else [])
    return model_bytes([swl.node("Linear", inputs, ["Y"], name="linear", **attrs)], feeds,
                       {"Y": expected.astype(np.float32)}, consts), feeds


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rows,k,n", [(40, 512, 1030), (1, 600, 1030), (7, 33, 5), (13, 1, 16), (6, 64, 48),
                                        (9, 40, 45), (5, 0, 20), (520, 64, 40)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_packed_linear(rng, threads, rows, k, n, with_bias):
    x, w = randn(rng, rows, k), randn(rng, k, n)
    b = randn(rng, n) if with_bias else None
    expected = ref.matmul(x, w) + (b if with_bias else 0)
    data, feeds = linear_model(x, w, b, expected)
    got = run_bytes(data, feeds, "cpu", threads=threads)["Y"]
    assert_reduction_close(got, expected, ref.matmul(x, w, absolute=True) + (np.abs(b) if with_bias else 0))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_packed_linear_activation(rng, activation):
    x, w, b = randn(rng, 3, 20, 96), randn(rng, 96, 200), randn(rng, 200)
    pre = ref.matmul(x, w) + b
    expected = np.maximum(pre, 0) if activation == "relu" else ref.gelu(pre)
    data, feeds = linear_model(x, w, b, expected, activation=activation)
    got = run_bytes(data, feeds, "cpu", threads=2)["Y"]
    # The activation's slope is at most ~1.13 (GELU), so the product's bound carries over; GELU's
    # own error (fast_math.c) is far below it.
    assert_reduction_close(got, expected, 1.2 * (ref.matmul(x, w, absolute=True) + np.abs(b)) + 1e-6)


def test_weights_given_at_run_time(rng):
    """W a graph input: no constant to pack, so sgemm on W as given."""
    x, w, b = randn(rng, 40, 300), randn(rng, 300, 203), randn(rng, 203)
    expected = ref.matmul(x, w) + b
    data, feeds = linear_model(x, w, b, expected, w_is_input=True)
    got = run_bytes(data, feeds, "cpu", threads=2)["Y"]
    assert_reduction_close(got, expected, ref.matmul(x, w, absolute=True) + np.abs(b))


def test_sessions_of_a_mapped_model_agree_after_its_pages_are_dropped(rng, tmp_path):
    """A .swl file's W is packed from its memory map and the mapped pages are then dropped; they
    must read back from the file for any later reader: a second CPU session (which shares the
    packed panels), a reference-backend session, and the first again."""
    x, w, b = randn(rng, 32, 700), randn(rng, 700, 1500), randn(rng, 1500)
    expected = ref.matmul(x, w) + b
    bound = ref.matmul(x, w, absolute=True) + np.abs(b)
    data, _ = linear_model(x, w, b, expected)
    path = tmp_path / "linear.swl"
    path.write_bytes(data)
    with swiftlet.Model(path) as model:
        with model.session(backend="cpu", threads=1) as first, model.session(backend="cpu", threads=2) as second, \
                model.session(backend="reference") as reference:
            for session in (first, second, reference, first):
                assert_reduction_close(session.run({"X": x})["Y"], expected, bound)
