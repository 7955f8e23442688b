"""A pure-numpy reference forward pass for the bundled digits models (models/digits_*.swl).

Written from the operator semantics in docs/FORMAT.md, independently of PyTorch and of
libswiftlet, so it can check both: tools/train_digits.py asserts it agrees with the trained torch
models, and the Python tests compare the runtime against it.

Each `forward_*` takes the model's tensors as a dict name -> ndarray (as returned by
`safetensors.numpy.load_file(path)`) and an input batch, and returns the logits [N, 10].
Arithmetic is done in float64, so the result is the exact answer that a float32 runtime
approximates; BatchNormalization is applied unfolded, exactly as the graph states it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, *,
         trans_b: bool = False) -> np.ndarray:
    """ONNX Gemm with alpha = beta = 1, transA = 0: a @ op(b) + c (c broadcasts)."""
    y = a @ (b.T if trans_b else b)
    return y if c is None else y + c


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def clip(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
           strides: Sequence[int] = (1, 1), pads: Sequence[int] = (0, 0, 0, 0),
           dilations: Sequence[int] = (1, 1)) -> np.ndarray:
    """ONNX Conv, group 1, NCHW; W is [M, C, kH, kW]; pads are (top, left, bottom, right).

    im2col: every output pixel gathers its C*kH*kW input window, then one matrix product.
    """
    n, c, h, wd = x.shape
    m, cw, kh, kw = w.shape
    assert cw == c, f"Conv: input has {c} channels, weight expects {cw}"
    (sh, sw), (dh, dw) = strides, dilations
    top, left, bottom, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + left + right - dw * (kw - 1) - 1) // sw + 1
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            colz = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            cols[..., i, j] = xp[:, :, rows, colz].transpose(0, 2, 3, 1)
    y = cols.reshape(n * oh * ow, c * kh * kw) @ w.reshape(m, c * kh * kw).T
    if b is not None:
        y = y + b
    return y.reshape(n, oh, ow, m).transpose(0, 3, 1, 2)


def batch_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray,
               var: np.ndarray, epsilon: float = 1e-5) -> np.ndarray:
    """ONNX BatchNormalization, inference form, per channel (axis 1)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv_std = 1.0 / np.sqrt(var.reshape(shape) + epsilon)
    return (x - mean.reshape(shape)) * inv_std * scale.reshape(shape) + bias.reshape(shape)


def max_pool2d(x: np.ndarray, kernel_shape: Sequence[int], *, strides: Sequence[int] = (1, 1),
               pads: Sequence[int] = (0, 0, 0, 0)) -> np.ndarray:
    """ONNX MaxPool, NCHW, ceil_mode 0; padding is -inf so it never wins the max."""
    n, c, h, wd = x.shape
    (kh, kw), (sh, sw) = kernel_shape, strides
    top, left, bottom, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=-np.inf)
    oh = (h + top + bottom - kh) // sh + 1
    ow = (wd + left + right - kw) // sw + 1
    y = np.full((n, c, oh, ow), -np.inf, dtype=xp.dtype)
    for i in range(kh):
        for j in range(kw):
            y = np.maximum(y, xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw])
    return y


def flatten(x: np.ndarray, axis: int = 1) -> np.ndarray:
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _f64(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}


def forward_mlp(tensors: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """models/digits_mlp.swl: x [N, 64] -> logits [N, 10] (float64)."""
    t = _f64(tensors)
    h = np.asarray(x, dtype=np.float64).reshape(-1, 64)
    h = relu(gemm(h, t["fc1.weight"], t["fc1.bias"], trans_b=True))
    h = relu(gemm(h, t["fc2.weight"], t["fc2.bias"], trans_b=True))
    return gemm(h, t["fc3.weight"], t["fc3.bias"], trans_b=True)


def forward_cnn(tensors: Mapping[str, np.ndarray], x: np.ndarray,
                epsilon: float = 1e-5) -> np.ndarray:
    """models/digits_cnn.swl: x [N, 1, 8, 8] (or [N, 64], same bytes) -> logits [N, 10] (float64).

    conv1 has a bias input and conv2 has none (see tools/train_digits.py); `.get` covers both.
    """
    t = _f64(tensors)
    h = np.asarray(x, dtype=np.float64).reshape(-1, 1, 8, 8)
    h = conv2d(h, t["conv1.weight"], t.get("conv1.bias"), pads=(1, 1, 1, 1))
    h = batch_norm(h, t["bn1.scale"], t["bn1.bias"], t["bn1.mean"], t["bn1.var"], epsilon)
    h = max_pool2d(relu(h), (2, 2), strides=(2, 2))
    h = conv2d(h, t["conv2.weight"], t.get("conv2.bias"), pads=(1, 1, 1, 1))
    h = batch_norm(h, t["bn2.scale"], t["bn2.bias"], t["bn2.mean"], t["bn2.var"], epsilon)
    h = flatten(clip(h, 0.0, 6.0), 1)
    return gemm(h, t["fc.weight"], t["fc.bias"], trans_b=True)
