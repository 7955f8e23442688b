"""swl_run_report through Session.run(report=True)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import swiftlet
from conftest import MODELS, model_bytes, randn, require_file
from swiftlet import swl


def gemm_flops(path, batch):
    """2·batch·K·N summed over the Gemm nodes, from the file's own weights."""
    tensors = load_file(str(path))
    with safe_open(str(path), "np") as f:
        graph = json.loads(f.metadata()["graph"])
    total, outputs = 0, 0
    for node in graph["nodes"]:
        if node["op"] == "Gemm":
            w = tensors[node["inputs"][1]]
            total += 2 * batch * w.shape[0] * w.shape[1]
            outputs += batch * (w.shape[0] if node.get("attrs", {}).get("transB") else w.shape[1])
    return total, outputs


def test_mlp_report(backend):
    path = require_file(MODELS / "digits_mlp.swl")
    with swiftlet.Model(path) as m, m.session(backend) as s:
        name = s.inputs[0].name
        reports = {}
        for batch in (1, 8, 64):
            _, reports[batch] = s.run({name: np.zeros((batch, 64), np.float32)}, report=True)
    for batch, r in reports.items():
        macs2, outs = gemm_flops(path, batch)
        assert r.node_count > 0
        assert r.fallback_node_count == 0
        assert r.wall_time_ms > 0
        assert r.bytes_moved > 0
        assert r.peak_activation_bytes > 0
        assert r.sim_cycles == 0 and r.sim_energy_mj == 0
        # multiply-adds of the Gemms, plus at most a few ops per output element (bias, Relu)
        assert macs2 <= r.flops <= macs2 + 4 * outs, (batch, r.flops, macs2)
    assert reports[8].flops == 8 * reports[1].flops
    assert reports[1].peak_activation_bytes < reports[8].peak_activation_bytes \
        < reports[64].peak_activation_bytes


def test_conv_flops_and_node_count(backend, rng):
    X, W = randn(rng, 2, 3, 8, 8), randn(rng, 4, 3, 3, 3)
    data = model_bytes([swl.node("Conv", ["X", "W"], ["c"], pads=[1, 1, 1, 1]),
                        swl.node("Relu", ["c"], ["Y"])],
                       {"X": X}, {"Y": (np.float32, (2, 4, 8, 8))}, {"W": W})
    with swiftlet.Model.from_bytes(data) as m, m.session(backend, optimize=False) as s:
        _, r = s.run({"X": X}, report=True)
    macs2 = 2 * 2 * 4 * 8 * 8 * 3 * 3 * 3
    assert macs2 <= r.flops <= macs2 + 4 * 2 * 4 * 8 * 8
    assert r.node_count == 2


def test_reports_agree_between_backends(rng):
    X, W = randn(rng, 5, 16), randn(rng, 16, 8)
    data = model_bytes([swl.node("MatMul", ["X", "W"], ["Y"])], {"X": X},
                       {"Y": (np.float32, (5, 8))}, {"W": W})
    reports = []
    for backend in ("reference", "cpu"):
        with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
            reports.append(s.run({"X": X}, report=True)[1])
    assert reports[0].flops == reports[1].flops == 2 * 5 * 16 * 8
    assert reports[0].node_count == reports[1].node_count == 1
