"""Approximate attention (issue 4): the Attention op's top-k and sign-matching key selection,
against a numpy implementation of the definitions in AttentionSelection.swift, on both backends;
ties, masked keys, NaN; bad attributes; `swiftlet compress --attention`."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

import swiftlet
from conftest import BACKENDS, MODELS, assert_close, graph_nodes, model_bytes
from swiftlet import swl


def reference(q, k, v, mask, scale, mode, keep):
    """Y[b, i, h] = softmax over the selected keys of (scale·q·k + mask) times V, in float64."""
    batch, queries, heads, _ = q.shape
    keys = k.shape[1]
    full_mask = np.broadcast_to(mask, (batch, heads, queries, keys)) if mask is not None else np.zeros((batch, heads, queries, keys))
    y = np.zeros(q.shape)
    for b in range(batch):
        for h in range(heads):
            for i in range(queries):
                query = q[b, i, h].astype(np.float64)
                scores = scale * (k[b, :, h].astype(np.float64) @ query) + full_mask[b, h, i]
                if mode is not None and keep < keys:
                    if mode == "topk":
                        rank = scores.copy()
                    else:  # agreement of IEEE sign bits (−0 is negative)
                        rank = (np.signbit(k[b, :, h]) == np.signbit(q[b, i, h])[None, :]).sum(axis=1).astype(np.float64)
                    rank[scores == -np.inf] = -np.inf
                    rank[np.isnan(scores)] = np.inf
                    order = sorted(range(keys), key=lambda j: (-rank[j], j))
                    scores[order[keep:]] = -np.inf
                top = scores.max()
                weights = np.zeros(keys) if top == -np.inf else np.exp(scores - top)
                if weights.sum() > 0:
                    weights /= weights.sum()
                y[b, i, h] = weights @ v[b, :, h].astype(np.float64)
    return y


def attention_model(attributes, with_mask=True):
    inputs = {"q": ("float32", ["b", "s", 2, 8]), "k": ("float32", ["b", "t", 2, 8]), "v": ("float32", ["b", "t", 2, 8])}
    names = ["q", "k", "v"]
    if with_mask:
        inputs["mask"] = ("float32", ["b", 1, 1, "t"])
        names.append("mask")
    return model_bytes([swl.node("Attention", names, ["y"], name="att", **attributes)], inputs,
                       {"y": ("float32", ["b", "s", 2, 8])})


def run(data, feeds, backend):
    with swiftlet.Model.from_bytes(data) as model, model.session(backend=backend, threads=1) as session:
        return session.run(feeds)["y"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode,keep", [(None, 0), ("topk", 1), ("topk", 3), ("topk", 11), ("sign", 1), ("sign", 4), ("sign", 11)])
def test_selection_matches_the_definition(rng, backend, mode, keep):
    q = rng.standard_normal((2, 5, 2, 8)).astype(np.float32)
    k = rng.standard_normal((2, 11, 2, 8)).astype(np.float32)
    v = rng.standard_normal((2, 11, 2, 8)).astype(np.float32)
    mask = np.zeros((2, 1, 1, 11), np.float32)
    mask[0, ..., 9:] = -np.inf      # padding as -inf: never selected
    mask[1, ..., 8:] = -3.4e38      # padding as exporters write it: selectable, weighs nothing
    attributes = {"scale": 0.35} if mode is None else {"scale": 0.35, "selection": mode, "keep": keep}
    got = run(attention_model(attributes), {"q": q, "k": k, "v": v, "mask": mask}, backend)
    assert_close(got, reference(q, k, v, mask, 0.35, mode, keep), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_selection_changes_the_answer_and_keep_one_is_a_lookup(rng, backend):
    """Top-1 attention returns exactly the best key's V row; sign-matching picks by signs, not scores."""
    q = rng.standard_normal((1, 4, 2, 8)).astype(np.float32)
    k = rng.standard_normal((1, 9, 2, 8)).astype(np.float32)
    v = rng.standard_normal((1, 9, 2, 8)).astype(np.float32)
    feeds = {"q": q, "k": k, "v": v}
    full = run(attention_model({}, with_mask=False), feeds, backend)
    top1 = run(attention_model({"selection": "topk", "keep": 1}, with_mask=False), feeds, backend)
    best = np.einsum("bihd,bjhd->bhij", q, k).argmax(axis=-1)  # [b, h, i]
    for h in range(2):
        for i in range(4):
            np.testing.assert_array_equal(top1[0, i, h], v[0, best[0, h, i], h])
    assert np.abs(full - top1).max() > 1e-3
    sign1 = run(attention_model({"selection": "sign", "keep": 1}, with_mask=False), feeds, backend)
    agreement = (np.signbit(q[0, :, None]) == np.signbit(k[0, None])).sum(-1)  # [i, j, h]
    for h in range(2):
        for i in range(4):
            np.testing.assert_array_equal(sign1[0, i, h], v[0, int(np.argmax(agreement[i, :, h])), h])


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_go_to_the_lower_key_and_nan_is_never_dropped(backend):
    q = np.ones((1, 1, 2, 8), np.float32)
    k = np.ones((1, 6, 2, 8), np.float32)  # every key scores the same and agrees in every sign
    v = np.arange(6 * 2 * 8, dtype=np.float32).reshape(1, 6, 2, 8)
    for mode in ("topk", "sign"):
        got = run(attention_model({"selection": mode, "keep": 2}, with_mask=False), {"q": q, "k": k, "v": v}, backend)
        np.testing.assert_allclose(got[0, 0], (v[0, 0] + v[0, 1]) / 2, rtol=1e-6)  # keys 0 and 1
    k_nan = k.copy()
    k_nan[0, 5, 0, 0] = np.nan  # key 5's score is NaN for head 0: selected, so the output says NaN
    got = run(attention_model({"selection": "topk", "keep": 1}, with_mask=False), {"q": q, "k": k_nan, "v": v}, backend)
    assert np.isnan(got[0, 0, 0]).all() and np.isfinite(got[0, 0, 1]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_zero_is_a_negative_sign_bit(backend):
    """Sign-matching reads IEEE sign bits: a key of −0s agrees with a query of −1s, one of +0s does not."""
    q = -np.ones((1, 1, 2, 8), np.float32)
    k = np.zeros((1, 2, 2, 8), np.float32)
    k[0, 1] = -0.0  # key 1: all −0 (same score 0 as key 0)
    v = np.arange(2 * 2 * 8, dtype=np.float32).reshape(1, 2, 2, 8)
    got = run(attention_model({"selection": "sign", "keep": 1}, with_mask=False), {"q": q, "k": k, "v": v}, backend)
    np.testing.assert_array_equal(got[0, 0], v[0, 1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["topk", "sign"])
def test_many_queries_span_the_cpu_kernels_row_blocks(rng, backend, mode):
    """70 queries: the CPU kernel's second block of 64 query rows selects with its own pointers."""
    q = rng.standard_normal((1, 70, 2, 8)).astype(np.float32)
    k = rng.standard_normal((1, 9, 2, 8)).astype(np.float32)
    v = rng.standard_normal((1, 9, 2, 8)).astype(np.float32)
    got = run(attention_model({"selection": mode, "keep": 3}, with_mask=False), {"q": q, "k": k, "v": v}, backend)
    assert_close(got, reference(q, k, v, None, 1.0, mode, 3), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_keys_gives_zeros(backend):
    q = np.ones((1, 2, 2, 8), np.float32)
    empty = np.zeros((1, 0, 2, 8), np.float32)
    got = run(attention_model({"selection": "topk", "keep": 2}, with_mask=False), {"q": q, "k": empty, "v": empty}, backend)
    np.testing.assert_array_equal(got, 0)


@pytest.mark.parametrize("attributes,message", [
    ({"keep": 3}, "needs selection"),
    ({"selection": "topk"}, "is required"),
    ({"selection": "sign", "keep": 0}, "must be ≥ 1"),
    ({"selection": "random", "keep": 2}, "must be \"all\", \"topk\" or \"sign\""),
])
def test_bad_selection_attributes_are_invalid_models(attributes, message):
    with pytest.raises(swiftlet.SwiftletError) as caught:
        swiftlet.Model.from_bytes(attention_model(attributes))
    assert caught.value.status_name == "SWL_STATUS_INVALID_MODEL" and message in str(caught.value)


def test_compress_sets_the_selection_per_node(tmp_path, cli, rng):
    (tmp_path / "att.swl").write_bytes(attention_model({"scale": 0.5}))
    result = subprocess.run([cli, "compress", str(tmp_path / "att.swl"), str(tmp_path / "sign.swl"), "--attention", "at*=sign:3"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "attention att: sign:3" in result.stdout
    (node,) = graph_nodes(tmp_path / "sign.swl").values()
    assert node["attrs"] == {"scale": 0.5, "selection": "sign", "keep": 3}
    feeds = {"q": rng.standard_normal((1, 3, 2, 8)).astype(np.float32), "k": rng.standard_normal((1, 7, 2, 8)).astype(np.float32),
             "v": rng.standard_normal((1, 7, 2, 8)).astype(np.float32), "mask": np.zeros((1, 1, 1, 7), np.float32)}
    np.testing.assert_array_equal(run((tmp_path / "sign.swl").read_bytes(), feeds, "cpu"),
                                  run(attention_model({"scale": 0.5, "selection": "sign", "keep": 3}), feeds, "cpu"))


@pytest.mark.parametrize("arguments,message", [
    (["--attention", "*=topk:4"], "matches no Attention node"),   # the MLP has none
    (["--attention", "*=topk"], "use full, topk:K or sign:K"),
    (["--attention", "*=sign:0"], "use full, topk:K or sign:K"),
    (["--attention", "topk:4"], "GLOB=MODE"),
    (["--attention", "*=topk:4", "--auto", "--quantize", "mxfp4", "--data", "x.npy", "--max-loss-increase", "1"],
     "cannot be combined with --auto"),
])
def test_bad_attention_rules_are_refused(tmp_path, cli, arguments, message):
    result = subprocess.run([cli, "compress", str(MODELS / "digits_mlp.swl"), str(tmp_path / "x.swl"), *arguments],
                            capture_output=True, text=True)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "x.swl").exists()
