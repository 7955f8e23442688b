"""Checks of the numpy references themselves against second, naive formulations (no library
needed): a wrong reference would make every op test meaningless."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import numpy_ops as ref


def naive_conv(X, W, B, strides, pads, dilations, group):
    N, C, H, Wd = X.shape
    M, Cg, kH, kW = W.shape
    Ho = ref.conv_out_size(H, kH, strides[0], pads[0], pads[2], dilations[0])
    Wo = ref.conv_out_size(Wd, kW, strides[1], pads[1], pads[3], dilations[1])
    Y = np.zeros((N, M, Ho, Wo))
    Mg = M // group
    for n, m, oh, ow in itertools.product(range(N), range(M), range(Ho), range(Wo)):
        g = m // Mg
        acc = 0.0 if B is None else float(B[m])
        for c, i, j in itertools.product(range(Cg), range(kH), range(kW)):
            h = oh * strides[0] - pads[0] + i * dilations[0]
            w = ow * strides[1] - pads[1] + j * dilations[1]
            if 0 <= h < H and 0 <= w < Wd:
                acc += float(X[n, g * Cg + c, h, w]) * float(W[m, c, i, j])
        Y[n, m, oh, ow] = acc
    return Y


@pytest.mark.parametrize("case", range(6))
def test_conv_reference(case):
    rng = np.random.default_rng(case)
    group = [1, 2, 3, 1, 6, 2][case]
    C, M = 6, 6
    X = rng.standard_normal((2, C, 7, 6))
    W = rng.standard_normal((M, C // group, 3, 2))
    B = rng.standard_normal(M) if case % 2 else None
    strides = [(1, 1), (2, 1), (1, 3), (2, 2), (1, 1), (3, 2)][case]
    pads = [(0, 0, 0, 0), (1, 0, 2, 1), (2, 2, 2, 2), (0, 1, 1, 0), (1, 1, 1, 1), (2, 0, 0, 2)][case]
    dil = [(1, 1), (1, 1), (2, 1), (1, 2), (2, 2), (1, 1)][case]
    np.testing.assert_allclose(ref.conv2d(X, W, B, strides, pads, dil, group),
                               naive_conv(X, W, B, strides, pads, dil, group), rtol=1e-12,
                               atol=1e-12)


def test_pool_reference():
    X = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(ref.max_pool(X, (2, 2), (2, 2)), [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(ref.average_pool(X, (2, 2), (2, 2)),
                                  [[[[2.5, 4.5], [10.5, 12.5]]]])
    # pad 1 all round, 2x2 stride 2: corners see one real element
    Y0 = ref.average_pool(X, (2, 2), (2, 2), (1, 1, 1, 1), count_include_pad=0)
    Y1 = ref.average_pool(X, (2, 2), (2, 2), (1, 1, 1, 1), count_include_pad=1)
    assert Y0.shape == (1, 1, 3, 3) and Y0[0, 0, 0, 0] == 0 and Y1[0, 0, 0, 0] == 0
    assert Y0[0, 0, 2, 2] == 15 and Y1[0, 0, 2, 2] == 15 / 4
    # ceil mode: 5 wide, k 2, s 2 -> 3 windows, the last one holding one element
    X5 = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    Y = ref.average_pool(X5, (2, 2), (2, 2), ceil_mode=1, count_include_pad=1)
    assert Y.shape == (1, 1, 3, 3) and Y[0, 0, 2, 2] == 24
    assert ref.max_pool(-np.ones((1, 1, 2, 2)), (3, 3), (1, 1), (1, 1, 1, 1)).max() == -1


def test_slice_reference_matches_python_slices():
    X = np.arange(10)
    big = 2 ** 62
    for s, e, st in [(1, -1, 1), (-3, 1000, 1), (-1, -big, -1), (0, 10, 3), (9, 0, -3),
                     (big, -big, -2), (5, 2, 1), (-1000, 5, 1), (3, 3, 1)]:
        np.testing.assert_array_equal(ref.slice_(X, [s], [e], [0], [st]), X[s:e:st])


def test_softmax_reference():
    X = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    mask = np.array([[1, 0, 1], [0, 0, 0]])
    Y = ref.softmax(X, -1, mask)
    assert Y[0, 1] == 0 and np.all(Y[1] == 0)
    np.testing.assert_allclose(Y[0, [0, 2]], np.exp([1, 3]) / np.exp([1, 3]).sum())


def test_gelu_reference():
    x = np.linspace(-6, 6, 101)
    exact, approx = ref.gelu(x), ref.gelu(x, "tanh")
    assert np.max(np.abs(exact - approx)) < 1e-3
    assert abs(ref.gelu(np.array([1.0]))[0] - 0.8413447460685429) < 1e-15


def test_layer_norm_reference():
    X = np.random.default_rng(0).standard_normal((3, 4, 5))
    Y = ref.layer_norm(X, np.ones((4, 5)), None, axis=1)
    np.testing.assert_allclose(Y.reshape(3, -1).mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(Y.reshape(3, -1).var(1), 1, rtol=1e-4)


def test_flatten_unsqueeze_references():
    X = np.zeros((2, 3, 4))
    assert ref.flatten(X, -1).shape == (6, 4) and ref.flatten(X, 0).shape == (1, 24)
    assert ref.flatten(X, 3).shape == (24, 1)
    assert ref.unsqueeze(np.zeros((3, 5)), [0, 3]).shape == (1, 3, 5, 1)
    assert ref.unsqueeze(np.zeros((3, 5)), [-1]).shape == (3, 5, 1)
    assert ref.squeeze(np.zeros((1, 3, 1)), None).shape == (3,)
    assert ref.reshape(X, [4, 0, 2]).shape == (4, 3, 2)
