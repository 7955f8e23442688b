"""Numpy references for the operators of docs/FORMAT.md (ONNX opset-13+ semantics).

Written independently of libswiftlet, in the plainest numpy that states the definition. The
arithmetic references compute in float64; the tests compare fp32 results against them with error
bounds (see conftest.assert_close_bound). Each function also has an "abs" companion where a
reduction is involved: the same computation on absolute values, |a|·|b| summed, which bounds the
rounding error of any fp32 summation order (|fl(Σ aᵢbᵢ) − Σ aᵢbᵢ| ≤ γₙ Σ |aᵢbᵢ|, γₙ ≈ n·2⁻²⁴).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

f64 = np.float64


# ---- linear algebra ------------------------------------------------------------------------------
def gemm(A, B, C=None, alpha=1.0, beta=1.0, transA=0, transB=0, absolute=False):
    A = np.asarray(A, f64)
    B = np.asarray(B, f64)
    if transA:
        A = A.T
    if transB:
        B = B.T
    if absolute:
        A, B = np.abs(A), np.abs(B)
        alpha, beta = abs(alpha), abs(beta)
    Y = alpha * (A @ B)
    if C is not None:
        C = np.asarray(C, f64)
        Y = Y + beta * (np.abs(C) if absolute else C)
    return Y


def matmul(A, B, absolute=False):
    A = np.asarray(A, f64)
    B = np.asarray(B, f64)
    if absolute:
        A, B = np.abs(A), np.abs(B)
    return np.matmul(A, B)


# ---- convolution and pooling ----------------------------------------------------------------------
def conv_out_size(size, k, stride, pad_begin, pad_end, dilation):
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


def conv2d(X, W, B=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1,
           absolute=False):
    """ONNX Conv, 2-D, NCHW; pads = (top, left, bottom, right); W is [M, C/group, kH, kW]."""
    X = np.asarray(X, f64)
    W = np.asarray(W, f64)
    if absolute:
        X, W = np.abs(X), np.abs(W)
    N, C, H, Wd = X.shape
    M, Cg, kH, kW = W.shape
    assert C == Cg * group and M % group == 0
    sh, sw = strides
    pt, pl, pb, pr = pads
    dh, dw = dilations
    Ho = conv_out_size(H, kH, sh, pt, pb, dh)
    Wo = conv_out_size(Wd, kW, sw, pl, pr, dw)
    Xp = np.zeros((N, C, H + pt + pb, Wd + pl + pr))
    Xp[:, :, pt:pt + H, pl:pl + Wd] = X
    Y = np.zeros((N, M, Ho, Wo))
    Mg = M // group
    for g in range(group):
        xg = Xp[:, g * Cg:(g + 1) * Cg]
        wg = W[g * Mg:(g + 1) * Mg]
        for i in range(kH):
            for j in range(kW):
                r0, c0 = i * dh, j * dw
                patch = xg[:, :, r0:r0 + sh * (Ho - 1) + 1:sh, c0:c0 + sw * (Wo - 1) + 1:sw]
                # [N, Cg, Ho, Wo] x [Mg, Cg] -> [N, Mg, Ho, Wo]
                Y[:, g * Mg:(g + 1) * Mg] += np.einsum("nchw,mc->nmhw", patch, wg[:, :, i, j])
    if B is not None:
        B = np.asarray(B, f64)
        Y += (np.abs(B) if absolute else B).reshape(1, M, 1, 1)
    return Y


def pool_out_size(size, k, stride, pad_begin, pad_end, ceil_mode):
    span = size + pad_begin + pad_end - k
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    # PyTorch / onnxruntime rule: with ceil_mode the last window must start inside the input or
    # the leading padding. The tests choose shapes where this rule does not change the size.
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _pool_windows(X, kernel_shape, strides, pads, ceil_mode):
    N, C, H, W = X.shape
    kh, kw = kernel_shape
    sh, sw = strides
    pt, pl, pb, pr = pads
    Ho = pool_out_size(H, kh, sh, pt, pb, ceil_mode)
    Wo = pool_out_size(W, kw, sw, pl, pr, ceil_mode)
    for oh in range(Ho):
        for ow in range(Wo):
            h0, w0 = oh * sh - pt, ow * sw - pl
            h1, w1 = h0 + kh, w0 + kw
            yield oh, ow, (h0, h1, w0, w1), (Ho, Wo)


def max_pool(X, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0):
    X = np.asarray(X)
    N, C, H, W = X.shape
    Y = None
    for oh, ow, (h0, h1, w0, w1), (Ho, Wo) in _pool_windows(X, kernel_shape, strides, pads,
                                                             ceil_mode):
        if Y is None:
            Y = np.empty((N, C, Ho, Wo), X.dtype)
        # padding never wins: only real elements take part
        win = X[:, :, max(h0, 0):min(h1, H), max(w0, 0):min(w1, W)]
        Y[:, :, oh, ow] = win.max(axis=(2, 3))
    return Y


def average_pool(X, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0,
                 count_include_pad=0, absolute=False):
    """count_include_pad=1 counts the explicit padding in the divisor but not the part of a
    ceil_mode window that hangs past the padding (onnxruntime and PyTorch agree on this)."""
    X = np.asarray(X, f64)
    if absolute:
        X = np.abs(X)
    N, C, H, W = X.shape
    pt, pl, pb, pr = pads
    Y = None
    for oh, ow, (h0, h1, w0, w1), (Ho, Wo) in _pool_windows(X, kernel_shape, strides, pads,
                                                             ceil_mode):
        if Y is None:
            Y = np.empty((N, C, Ho, Wo))
        win = X[:, :, max(h0, 0):min(h1, H), max(w0, 0):min(w1, W)]
        if count_include_pad:
            count = ((min(h1, H + pb) - max(h0, -pt)) * (min(w1, W + pr) - max(w0, -pl)))
        else:
            count = win.shape[2] * win.shape[3]
        Y[:, :, oh, ow] = win.sum(axis=(2, 3)) / count
    return Y


def global_average_pool(X, absolute=False):
    X = np.asarray(X, f64)
    if absolute:
        X = np.abs(X)
    return X.mean(axis=(2, 3), keepdims=True)


# ---- normalization --------------------------------------------------------------------------------
def batch_norm(X, scale, B, mean, var, epsilon=1e-5, absolute=False):
    """Inference BatchNormalization over dim 1 of [N, C, ...]."""
    X = np.asarray(X, f64)
    shape = (1, -1) + (1,) * (X.ndim - 2)
    scale, B, mean, var = (np.asarray(a, f64).reshape(shape) for a in (scale, B, mean, var))
    inv = 1.0 / np.sqrt(var + epsilon)
    if absolute:
        return (np.abs(X) + np.abs(mean)) * np.abs(scale) * inv + np.abs(B)
    return (X - mean) * inv * scale + B


def layer_norm(X, scale, B=None, axis=-1, epsilon=1e-5, absolute=False):
    """Normalizes over dims axis..rank-1; scale and B have shape X.shape[axis:]."""
    X = np.asarray(X, f64)
    axis = axis % X.ndim
    dims = tuple(range(axis, X.ndim))
    mean = X.mean(axis=dims, keepdims=True)
    var = ((X - mean) ** 2).mean(axis=dims, keepdims=True)
    inv = 1.0 / np.sqrt(var + epsilon)
    scale = np.asarray(scale, f64)
    if absolute:
        # |x − mean| computed in fp32 errs by ~u·(|x| + mean|x|); the result scales that by
        # |scale|/σ. (Error in σ is relative and already covered by the relative term.)
        mean_abs = np.abs(X).mean(axis=dims, keepdims=True)
        Y = (np.abs(X) + mean_abs) * inv * np.abs(scale)
        return Y + (np.abs(np.asarray(B, f64)) if B is not None else 0.0)
    Y = (X - mean) * inv * scale
    if B is not None:
        Y = Y + np.asarray(B, f64)
    return Y


# ---- elementwise ----------------------------------------------------------------------------------
def relu(X):
    return np.maximum(np.asarray(X), 0).astype(np.asarray(X).dtype)


def sigmoid(X):
    X = np.asarray(X, f64)
    return 1.0 / (1.0 + np.exp(-X))


def tanh(X):
    return np.tanh(np.asarray(X, f64))


def clip(X, min=-np.inf, max=np.inf):
    X = np.asarray(X)
    return np.minimum(np.maximum(X, np.float32(min)), np.float32(max)).astype(X.dtype)


_erf = np.vectorize(math.erf, otypes=[f64])


def gelu(X, approximate="none"):
    X = np.asarray(X, f64)
    if approximate == "tanh":
        return 0.5 * X * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (X + 0.044715 * X ** 3)))
    return 0.5 * X * (1.0 + _erf(X / math.sqrt(2.0)))


def binary(op, A, B):
    A = np.asarray(A, f64)
    B = np.asarray(B, f64)
    return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](A, B)


def softmax(X, axis=-1, mask=None):
    """Softmax along axis; where mask (broadcast to X) is 0 the result is exactly 0, and a slice
    with every entry masked is all zeros."""
    X = np.asarray(X, f64)
    if mask is None:
        keep = np.ones(X.shape, bool)
    else:
        keep = np.broadcast_to(np.asarray(mask) != 0, X.shape)
    masked = np.where(keep, X, -np.inf)
    m = masked.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.where(keep, np.exp(masked - m), 0.0)
    s = e.sum(axis=axis, keepdims=True)
    return np.where(s > 0, e / np.where(s > 0, s, 1.0), 0.0)


# ---- data movement --------------------------------------------------------------------------------
def flatten(X, axis=1):
    X = np.asarray(X)
    if axis < 0:
        axis += X.ndim
    outer = int(np.prod(X.shape[:axis], dtype=np.int64))
    return X.reshape(outer, int(np.prod(X.shape[axis:], dtype=np.int64)))


def gather(data, indices, axis=0):
    data = np.asarray(data)
    indices = np.asarray(indices).astype(np.int64)
    axis = axis % data.ndim
    n = data.shape[axis]
    if np.any(indices < -n) or np.any(indices >= n):
        raise IndexError("index out of range")
    return np.take(data, np.where(indices < 0, indices + n, indices), axis=axis)


def reshape(X, shape, allowzero=0):
    X = np.asarray(X)
    out = []
    for i, d in enumerate(shape):
        out.append(X.shape[i] if (d == 0 and not allowzero) else d)
    return X.reshape(out)


def transpose(X, perm=None):
    X = np.asarray(X)
    return np.transpose(X, perm if perm is not None else tuple(reversed(range(X.ndim))))


def split(X, n_outputs, axis=0, split=None):
    X = np.asarray(X)
    axis = axis % X.ndim
    if split is None:
        assert X.shape[axis] % n_outputs == 0
        split = [X.shape[axis] // n_outputs] * n_outputs
    bounds = np.cumsum([0] + list(split))
    return [np.take(X, np.arange(bounds[i], bounds[i + 1]), axis=axis)
            for i in range(len(split))]


def concat(arrays, axis):
    return np.concatenate([np.asarray(a) for a in arrays], axis=axis)


def slice_(X, starts, ends, axes=None, steps=None):
    """ONNX Slice with its clamping rules, written out rather than borrowed from Python slices."""
    X = np.asarray(X)
    r = X.ndim
    axes = list(range(len(starts))) if axes is None else [a % r for a in axes]
    steps = [1] * len(starts) if steps is None else list(steps)
    index = [slice(None)] * r
    for start, end, axis, step in zip(starts, ends, axes, steps):
        assert step != 0
        dim = X.shape[axis]
        if start < 0:
            start += dim
        if end < 0:
            end += dim
        if step > 0:
            start = min(max(start, 0), dim)
            end = min(max(end, 0), dim)
            idx = list(range(start, end, step))
        else:
            start = min(max(start, 0), dim - 1)
            end = min(max(end, -1), dim - 1)
            idx = list(range(start, end, step))
        index[axis] = idx
    out = X
    for axis in range(r):
        if isinstance(index[axis], list):
            out = np.take(out, np.asarray(index[axis], dtype=np.int64), axis=axis)
    return out


def squeeze(X, axes: Optional[Sequence[int]] = None):
    X = np.asarray(X)
    if axes is None:
        return X.reshape([d for d in X.shape if d != 1])
    axes = {a % X.ndim for a in axes}
    assert all(X.shape[a] == 1 for a in axes)
    return X.reshape([d for i, d in enumerate(X.shape) if i not in axes])


def unsqueeze(X, axes: Sequence[int]):
    X = np.asarray(X)
    r = X.ndim + len(axes)
    axes = sorted(a % r for a in axes)
    shape = list(X.shape)
    for a in axes:
        shape.insert(a, 1)
    return X.reshape(shape)


# ---- a whole graph ------------------------------------------------------------------------------
def run_graph(graph: dict, tensors: dict, feeds: dict) -> dict:
    """Evaluates a .swl graph (the parsed `graph` metadata) with these references, in float64 for
    arithmetic. Returns every graph output. Used to check whole models (e.g. the digits models)."""
    values = {k: np.asarray(v) for k, v in tensors.items()}
    values.update({k: np.asarray(v) for k, v in feeds.items()})
    pending = list(graph["nodes"])
    while pending:
        ready = [n for n in pending if all(i == "" or i in values for i in n["inputs"])]
        if not ready:
            raise ValueError("graph has a cycle or an undefined input")
        for n in ready:
            pending.remove(n)
            args = [values[i] if i else None for i in n["inputs"]]
            outs = _eval_node(n["op"], args, n.get("attrs", {}), len(n["outputs"]))
            values.update(zip(n["outputs"], outs))
    return {o["name"]: values[o["name"]] for o in graph["outputs"]}


def _eval_node(op, args, a, n_out):
    x = args[0]
    opt = (lambda i: args[i] if len(args) > i else None)
    if op == "Gemm":
        return [gemm(x, args[1], opt(2), a.get("alpha", 1.0), a.get("beta", 1.0),
                     a.get("transA", 0), a.get("transB", 0))]
    if op == "MatMul":
        return [matmul(x, args[1])]
    if op == "Conv":
        return [conv2d(x, args[1], opt(2), a.get("strides", (1, 1)), a.get("pads", (0, 0, 0, 0)),
                       a.get("dilations", (1, 1)), a.get("group", 1))]
    if op == "MaxPool":
        return [max_pool(x, a["kernel_shape"], a.get("strides", (1, 1)),
                         a.get("pads", (0, 0, 0, 0)), a.get("ceil_mode", 0))]
    if op == "AveragePool":
        return [average_pool(x, a["kernel_shape"], a.get("strides", (1, 1)),
                             a.get("pads", (0, 0, 0, 0)), a.get("ceil_mode", 0),
                             a.get("count_include_pad", 0))]
    if op == "GlobalAveragePool":
        return [global_average_pool(x)]
    if op == "BatchNormalization":
        return [batch_norm(x, *args[1:5], a.get("epsilon", 1e-5))]
    if op == "LayerNormalization":
        return [layer_norm(x, args[1], opt(2), a.get("axis", -1), a.get("epsilon", 1e-5))]
    if op in ("Relu", "Identity"):
        return [np.maximum(x, 0) if op == "Relu" else x]
    if op == "Sigmoid":
        return [sigmoid(x)]
    if op == "Tanh":
        return [tanh(x)]
    if op == "Clip":
        return [np.clip(np.asarray(x, f64), a.get("min", -np.inf), a.get("max", np.inf))]
    if op == "Gelu":
        return [gelu(x, a.get("approximate", "none"))]
    if op in ("Add", "Sub", "Mul", "Div"):
        return [binary(op, x, args[1])]
    if op == "Softmax":
        return [softmax(x, a.get("axis", -1), opt(1))]
    if op == "Flatten":
        return [flatten(x, a.get("axis", 1))]
    if op == "Gather":
        return [gather(x, args[1], a.get("axis", 0))]
    if op == "Reshape":
        return [reshape(x, a["shape"], a.get("allowzero", 0))]
    if op == "Transpose":
        return [transpose(x, a.get("perm"))]
    if op == "Split":
        return split(x, n_out, a.get("axis", 0), a.get("split"))
    if op == "Concat":
        return [concat(args, a["axis"])]
    if op == "Slice":
        return [slice_(x, a["starts"], a["ends"], a.get("axes"), a.get("steps"))]
    if op == "Squeeze":
        return [squeeze(x, a.get("axes"))]
    if op == "Unsqueeze":
        return [unsqueeze(x, a["axes"])]
    raise NotImplementedError(op)
