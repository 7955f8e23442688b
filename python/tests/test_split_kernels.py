"""The CPU kernels with their work split over two threads (OpenBLAS itself stays single-threaded:
each thread multiplies its own output columns, planes or (batch, head) pairs). Every shape here is
large enough that the split happens — each thread gets ≥ 250 k multiply-adds, ColumnSplit's bar —
and ragged where a split boundary could go wrong: column counts that are not multiples of the
16-column unit, a last chunk of images shorter than the others. Checked against numpy."""
from __future__ import annotations

import numpy as np
import pytest

import numpy_ops as ref
from conftest import assert_close, assert_exact, assert_reduction_close, model_bytes, randn, run_bytes
from swiftlet import swl

THREADS = 2


def run_node(op, feeds, consts, expected, optimize=None, **attrs):
    data = model_bytes([swl.node(op, list(feeds) + list(consts), ["Y"], name="node0", **attrs)],
                       feeds, {"Y": expected.astype(np.float32)}, consts)
    return run_bytes(data, feeds, "cpu", optimize=optimize, threads=THREADS)["Y"]


@pytest.mark.parametrize("transA,transB", [(0, 1), (1, 0)])
def test_gemm_with_broadcast_c(rng, transA, transB):
    A = randn(rng, *((300, 64) if transA else (64, 300)))
    B = randn(rng, *((203, 300) if transB else (300, 203)))
    C = randn(rng, 203)
    expected = ref.gemm(A, B, C, alpha=0.5, beta=2.0, transA=transA, transB=transB)
    got = run_node("Gemm", {"A": A}, {"B": B, "C": C}, expected, alpha=0.5, beta=2.0, transA=transA, transB=transB)
    assert_reduction_close(got, expected, ref.gemm(A, B, C, 0.5, 2.0, transA, transB, absolute=True))


@pytest.mark.parametrize("transB", [0, 1])
@pytest.mark.parametrize("fused", [False, True], ids=["plain", "relu"])
def test_gemm_as_a_linear_layer(rng, transB, fused):
    """A linear layer's Gemm (alpha 1, C [N]) of 360 rows on the packed tiles, 203 columns split
    at a 16-column unit, with a Relu fused as its clamp."""
    A, B, C = randn(rng, 360, 300), randn(rng, *((203, 300) if transB else (300, 203))), randn(rng, 203)
    pre = ref.gemm(A, B, C, transB=transB)
    expected = np.maximum(pre, 0) if fused else pre
    nodes = [swl.node("Gemm", ["A", "B", "C"], ["P" if fused else "Y"], name="gemm", transB=transB)]
    if fused:
        nodes.append(swl.node("Relu", ["P"], ["Y"], name="relu"))
    data = model_bytes(nodes, {"A": A}, {"Y": expected.astype(np.float32)}, {"B": B, "C": C})
    outputs, report = run_bytes(data, {"A": A}, "cpu", optimize=True, report=True, threads=THREADS)
    assert report.node_count == 1
    assert_reduction_close(outputs["Y"], expected, ref.gemm(A, B, C, transB=transB, absolute=True))


@pytest.mark.parametrize("transB", [0, 1])
def test_gemm_one_row(rng, transB):
    """M = 1 (a classifier's matrix-vector product), 1030 columns over both threads."""
    A, B, C = randn(rng, 1, 600), randn(rng, *((1030, 600) if transB else (600, 1030))), randn(rng, 1030)
    expected = ref.gemm(A, B, C, alpha=0.5, beta=2.0, transB=transB)
    got = run_node("Gemm", {"A": A}, {"B": B, "C": C}, expected, alpha=0.5, beta=2.0, transB=transB)
    assert_reduction_close(got, expected, ref.gemm(A, B, C, 0.5, 2.0, 0, transB, absolute=True))


@pytest.mark.parametrize("a_shape,b_shape", [((2, 3, 50, 160), (2, 3, 160, 99)),   # per-batch products
                                             ((4, 50, 160), (160, 99))])          # one shared B
def test_matmul(rng, a_shape, b_shape):
    A, B = randn(rng, *a_shape), randn(rng, *b_shape)
    expected = ref.matmul(A, B)
    got = run_node("MatMul", {"A": A}, {"B": B}, expected)
    assert_reduction_close(got, expected, ref.matmul(A, B, absolute=True))


@pytest.mark.parametrize("rows", [40, 1], ids=["sgemm", "gemv"])
def test_linear_fused_from_matmul_add(rng, rows):
    X, W, b = randn(rng, 1, rows, 512), randn(rng, 512, 1030), randn(rng, 1030)
    expected = ref.matmul(X, W) + b
    data = model_bytes([swl.node("MatMul", ["X", "W"], ["P"], name="mm"), swl.node("Add", ["P", "b"], ["Y"], name="add")],
                       {"X": X}, {"Y": expected.astype(np.float32)}, {"W": W, "b": b})
    outputs, report = run_bytes(data, {"X": X}, "cpu", optimize=True, report=True, threads=THREADS)
    assert report.node_count == 1  # one Linear ran
    assert_reduction_close(outputs["Y"], expected, ref.matmul(X, W, absolute=True) + np.abs(b))


@pytest.mark.parametrize("shape,weights,pads,strides", [
    # im2col + sgemm (fewer than 32 output channels: neither the direct tiles nor the panels,
    # which test_conv_kernels.py splits): one image, the unfolding split by channel; then
    # chunks of 2 images, the last of 1.
    ((1, 64, 40, 37), (24, 64, 3, 3), (1, 1, 1, 1), (1, 1)),
    ((3, 3, 128, 256), (16, 3, 3, 3), (1, 1, 1, 1), (1, 1)),
    # 1×1: pointwise_conv.c's tiles read the input in place, positions split at a 16-column unit
    # (1023 and 2 × 225 positions: short last tiles; 13 and 40 outputs: short row tiles).
    ((1, 96, 33, 31), (40, 96, 1, 1), (0, 0, 0, 0), (1, 1)),
    ((2, 16, 15, 15), (13, 16, 1, 1), (0, 0, 0, 0), (1, 1)),
    # One 14×14 image is too little work to split, four are not: the images' positions are split
    # end to end, the second thread starting inside image 1.
    ((4, 32, 14, 14), (32, 32, 1, 1), (0, 0, 0, 0), (1, 1)),
    ((1, 200, 20, 20), (24, 200, 1, 1), (0, 0, 0, 0), (1, 1)),  # a long reduction: sgemm on the input in place
    # Depthwise on large planes (scratch past the lanes path's 160 KiB): at stride 2 in lanes (rows
    # of 41 outputs, short of the strided rows' 56); at stride 1 with a 3×3 kernel in lanes up to
    # 4 MiB (9 channels of 2 images: groups of 8 run across the images, the last holds 2) and over
    # stride phases past that; planes split.
    ((2, 64, 80, 81), (64, 1, 3, 3), (1, 1, 1, 1), (2, 2)),
    ((2, 9, 112, 112), (9, 1, 3, 3), (1, 1, 1, 1), (1, 1)),
    ((2, 8, 260, 260), (8, 1, 3, 3), (1, 1, 1, 1), (1, 1)),
    # Depthwise by strided rows (rows of 60 outputs at column stride 2, no scratch): 18 planes split
    # 9 + 9, the second range from channel 3 of image 1.
    ((3, 6, 60, 120), (6, 1, 3, 3), (1, 1, 1, 1), (2, 2)),
    # Depthwise with planes in lanes (a small plane): the second thread's range starts at plane
    # 150 (channel 50 of image 1), so its groups of 8 begin off the first thread's grid and run
    # across the boundary into image 2.
    ((3, 100, 14, 14), (100, 1, 3, 3), (1, 1, 1, 1), (1, 1)),
], ids=["im2col-one-image", "im2col-chunked", "pointwise", "pointwise-batch2", "pointwise-batch4-split", "pointwise-sgemm", "depthwise-s2", "depthwise-s1-lanes", "depthwise-s1", "depthwise-strided-rows", "depthwise-lanes"])
def test_conv(rng, shape, weights, pads, strides):
    X, Wt, B = randn(rng, *shape), randn(rng, *weights), randn(rng, weights[0])
    group = shape[1] if weights[1] == 1 and weights[0] == shape[1] else 1
    kw = dict(strides=strides, pads=pads, group=group)
    expected = ref.conv2d(X, Wt, B, **kw)
    got = run_node("Conv", {"X": X}, {"W": Wt, "B": B}, expected, strides=list(strides), pads=list(pads), group=group)
    assert_reduction_close(got, expected, ref.conv2d(X, Wt, B, absolute=True, **kw))


def test_max_pool(rng):
    X = randn(rng, 2, 40, 60, 61)
    X[1, 39, 59, 60] = np.nan
    expected = ref.max_pool(X, (3, 3), (2, 2), (1, 1, 1, 1))
    got = run_node("MaxPool", {"X": X}, {}, expected, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    assert_exact(got, expected)


@pytest.mark.parametrize("skip", [False, True], ids=["LayerNormalization", "SkipLayerNormalization"])
def test_layer_norm_rows(rng, skip):
    """1400 rows of 390 (not a multiple of 8: the partial sums' tail) split over both threads."""
    X, scale, B = randn(rng, 1400, 390, scale=2.0) + np.float32(0.5), randn(rng, 390), randn(rng, 390)
    S = randn(rng, 1400, 390)
    total = X + S if skip else X
    expected = ref.layer_norm(total, scale, B, -1, 1e-5)
    feeds = {"X": X, **({"S": S} if skip else {})}
    got = run_node("SkipLayerNormalization" if skip else "LayerNormalization", feeds, {"scale": scale, "B": B}, expected)
    assert_reduction_close(got, expected, ref.layer_norm(total, scale, B, -1, 1e-5, absolute=True))


@pytest.mark.parametrize("block,int8,m", [((4, 4), False, 50), ((4, 4), False, 30), ((1, 1), False, 50),
                                          ((3, 5), False, 50), ((4, 4), True, 50), ((4, 4), True, 30)],
                         ids=["bsr-4x4-by-rows", "bsr-4x4-by-block-rows", "csr", "bsr-3x5", "bsr-4x4-int8-by-rows",
                              "bsr-4x4-int8-by-block-rows"])
def test_block_sparse_linear(rng, block, int8, m):
    """Split over both threads by chunks of rows where there are four or more (16 rows each at
    R = 4, so M = 50 is three and a short one), else by block rows (CSR's chunks are 48 rows,
    3×5's 32; for 4×4 the threads' column ranges then meet at a 16-column unit). N = 203 leaves a
    last block row of padding rows."""
    (r, c), (k, n) = block, (300, 203)
    block_rows, block_columns = -(-n // r), -(-k // c)
    kept = rng.random((block_rows, block_columns)) < 0.5
    row_pointers = np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int32)
    columns = np.nonzero(kept)[1].astype(np.int32)
    if int8:
        values = rng.integers(-128, 128, (len(columns), r, c)).astype(np.int8)
        scales = (rng.random(n) * 0.01).astype(np.float32)
    else:
        values = randn(rng, len(columns), r, c)
    dense = np.zeros((block_rows * r, block_columns * c))
    for i, (b, q) in enumerate(zip(np.repeat(np.arange(block_rows), kept.sum(axis=1)), columns)):
        dense[b * r:(b + 1) * r, q * c:(q + 1) * c] = values[i]
    W = dense[:n, :k] * (scales[:, None] if int8 else 1)
    X, B = randn(rng, m, k), randn(rng, n)
    expected = X.astype(np.float64) @ W.T + B
    encoding = {"values": values, **({"scales": scales} if int8 else {}), "columns": columns, "rows": row_pointers, "B": B}
    got = run_node("SparseInt8Linear" if int8 else "SparseLinear", {"X": X}, encoding, expected, weight_shape=[n, k])
    assert_reduction_close(got, expected, np.abs(X.astype(np.float64)) @ np.abs(W.T) + np.abs(B))


def test_pattern_conv(rng):
    """Both splits happen: the input channels' phases (160 × 56 × 56 copies ≥ 2 × 250 k, the last
    range zeroing the slack) and the output channels (each thread ~12 M multiply-adds, with its
    own scratch); 67 output channels make the ranges uneven."""
    m, c = 67, 160
    patterns = np.array([[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8], [1, 3, 4, 5]], np.int32)
    kept = rng.random((m, c)) < 0.3
    ids = rng.integers(0, len(patterns), kept.sum()).astype(np.uint8)
    values = randn(rng, kept.sum(), 4)
    dense = np.zeros((m, c, 9), np.float32)
    owners, channels = np.nonzero(kept)
    dense[owners[:, None], channels[:, None], patterns[ids]] = values
    dense = dense.reshape(m, c, 3, 3)
    X, B = randn(rng, 1, c, 56, 56), randn(rng, m)
    expected = ref.conv2d(X, dense, B, pads=(1, 1, 1, 1))
    encoding = {"values": values, "patterns": patterns, "ids": ids, "channels": channels.astype(np.int32),
                "pointers": np.concatenate([[0], np.cumsum(kept.sum(axis=1))]).astype(np.int32), "B": B}
    got = run_node("PatternConv", {"X": X}, encoding, expected, weight_shape=[m, c, 3, 3], pads=[1, 1, 1, 1])
    assert_reduction_close(got, expected, ref.conv2d(X, dense, B, pads=(1, 1, 1, 1), absolute=True))


@pytest.mark.parametrize("batch,queries,keys,heads,size", [
    (2, 70, 37, 3, 20),   # 37 keys: scores padded to 48; size 20: two whole 8×8 transposes and a tail of 4
    (1, 200, 300, 2, 40),  # 300 keys: 13-row blocks (tiles of 6, 6, 1); size 40: context tiles 16, 16, 8
    (1, 5, 3, 4, 7),       # one block, one tile, smaller than every vector: no split
    (1, 20, 600, 2, 8),    # past 512 keys: the 8-row floor (scores 8 × 608 floats), blocks of 8, 8, 4
])
def test_attention(rng, batch, queries, keys, heads, size):
    """attention.c's packed head and register tiles, (batch, head) pairs split over two threads,
    against float64 numpy. The mask [b, 1, s, t] hides the last keys of batch 0 and every key of
    query row 1 (its output must be zeros)."""
    q, k, v = (randn(rng, batch, n, heads, size) for n in (queries, keys, keys))
    mask = np.zeros((batch, 1, queries, keys), np.float32)
    mask[0, :, :, keys - keys // 3:] = -np.inf
    mask[:, :, 1, :] = -np.inf
    mask[batch - 1, :, 2:, : keys // 2] = randn(rng, queries - 2, keys // 2)
    scale = 1 / np.sqrt(size)
    scores = scale * np.einsum("bihd,bjhd->bhij", q.astype(np.float64), k.astype(np.float64)) + mask
    top = scores.max(axis=-1, keepdims=True)
    weights = np.where(np.isneginf(top), 0.0, np.exp(scores - np.where(np.isneginf(top), 0.0, top)))
    weights /= np.maximum(weights.sum(axis=-1, keepdims=True), 1e-300)
    expected = np.einsum("bhij,bjhd->bihd", weights, v.astype(np.float64))
    data = model_bytes([swl.node("Attention", ["Q", "K", "V", "M"], ["Y"], name="node0", scale=float(scale))],
                       {"Q": q, "K": k, "V": v, "M": mask}, {"Y": expected.astype(np.float32)}, {})
    got = run_bytes(data, {"Q": q, "K": k, "V": v, "M": mask}, "cpu", threads=THREADS)["Y"]
    np.testing.assert_array_equal(got[:, 1], 0)
    # Softmax weights sum to 1, so the context is a convex mix of V's rows: bound by max |V|.
    assert_close(got, expected, rtol=0, atol=2e-6 * np.abs(v).max())
