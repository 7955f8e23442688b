"""The `swiftlet` command-line tool (path in SWIFTLET_CLI):
    swiftlet inspect MODEL [--json]
    swiftlet run MODEL --input [NAME=]x.npy ... --output [NAME=]y.npy ... [--backend B] [--threads N]
    swiftlet bench MODEL [--batch N] [--runs N] [--warmup N] [--profile [--top N]] [--backend B] [--threads N]
Errors go to stderr as "error: ..." with a non-zero exit status."""
from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from conftest import BACKENDS, DATA, MODELS, require_file

NAMES = ["digits_mlp", "digits_cnn"]


def sh(cli, *args, timeout=120):
    return subprocess.run([cli, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\n" \
                                 f"stderr: {proc.stderr[-2000:]}"
    return proc


def failed(proc):
    """A clean failure: non-zero exit (not a signal) and an "error: ..." line on stderr (either
    case: swift-argument-parser words it "Error: ...")."""
    assert proc.returncode != 0, f"expected failure, got exit 0: {proc.stdout[-1000:]}"
    assert proc.returncode > 0, f"killed by signal {-proc.returncode}: {proc.stderr[-1000:]}"
    assert re.search(r"^error: \S", proc.stderr, re.M | re.I), \
        f"stderr must hold an 'error: ...' line, got: {proc.stderr[-1000:]!r}"
    return proc


def model_info(name):
    path = require_file(MODELS / f"{name}.swl")
    with safe_open(str(path), "np") as f:
        graph = json.loads(f.metadata()["graph"])
    params = sum(int(np.prod(t.shape, dtype=np.int64)) for t in load_file(str(path)).values())
    return path, graph, params


def digits_input(name, tmp_path):
    x = np.load(require_file(DATA / "digits_test_x.npy")).astype(np.float32)
    y = np.load(require_file(DATA / "digits_test_y.npy"))
    if name == "digits_cnn":
        x = x.reshape(-1, 1, 8, 8)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path, y


def correct(name):
    return json.loads(require_file(MODELS / "digits_metrics.json").read_text())[name]["correct"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_run_accuracy(cli, tmp_path, name, backend):
    path, _, _ = model_info(name)
    x_path, y = digits_input(name, tmp_path)
    out = tmp_path / "y.npy"
    ok(sh(cli, "run", path, "--input", x_path, "--output", out, "--backend", backend,
          "--threads", 1))
    logits = np.load(out)
    assert logits.shape == (len(y), 10) and logits.dtype == np.float32
    assert int((logits.argmax(axis=1) == y).sum()) == correct(name)


@pytest.mark.parametrize("name", NAMES)
def test_run_named_arguments(cli, tmp_path, name):
    path, graph, _ = model_info(name)
    x_path, y = digits_input(name, tmp_path)
    in_name, out_name = graph["inputs"][0]["name"], graph["outputs"][0]["name"]
    out = tmp_path / "named.npy"
    ok(sh(cli, "run", path, "--input", f"{in_name}={x_path}", "--output", f"{out_name}={out}"))
    assert int((np.load(out).argmax(axis=1) == y).sum()) == correct(name)


@pytest.mark.parametrize("name", NAMES)
def test_inspect(cli, name):
    path, graph, params = model_info(name)
    text = ok(sh(cli, "inspect", path)).stdout
    for op in {n["op"] for n in graph["nodes"]}:
        assert op in text, f"inspect output does not mention {op}"
    variants = {str(params), f"{params:,}", f"{params:_}", f"{params:,}".replace(",", " ")}
    assert any(v in text for v in variants), f"parameter count {params} not in:\n{text}"


@pytest.mark.parametrize("name", NAMES)
def test_inspect_json(cli, name):
    path, graph, params = model_info(name)
    doc = json.loads(ok(sh(cli, "inspect", path, "--json")).stdout)

    def walk(v):
        if isinstance(v, dict):
            for k, w in v.items():
                yield k
                yield from walk(w)
        elif isinstance(v, list):
            for w in v:
                yield from walk(w)
        else:
            yield v
    values = list(walk(doc))
    assert params in values, f"parameter count {params} not in the JSON"
    for op in {n["op"] for n in graph["nodes"]}:
        assert op in values or op in json.dumps(doc)


@pytest.mark.parametrize("name", NAMES)
def test_bench(cli, name):
    path, _, _ = model_info(name)
    proc = ok(sh(cli, "bench", path, "--runs", 5))
    assert re.search(r"p50", proc.stdout + proc.stderr, re.I)


def test_bench_options(cli):
    path, _, _ = model_info("digits_mlp")
    proc = ok(sh(cli, "bench", path, "--batch", 4, "--runs", 3, "--warmup", 1,
                 "--backend", "reference", "--threads", 1))
    assert re.search(r"p50", proc.stdout + proc.stderr, re.I)


def test_bench_profile_lists_top_nodes(cli):
    path, _, _ = model_info("digits_cnn")
    listed = {}
    for top in (0, 2, 100):
        proc = ok(sh(cli, "bench", path, "--runs", 2, "--warmup", 0, "--profile", "--top", top))
        listed[top] = proc.stdout.split("slowest nodes")[1].strip().splitlines()[1:]
    assert len(listed[0]) == 0 and len(listed[2]) == 2
    assert 2 < len(listed[100]) < 100  # every node of the optimized graph, once
    assert len({line.split()[0] for line in listed[100]}) == len(listed[100])
    proc = failed(sh(cli, "bench", path, "--runs", 1, "--top=-1"))
    assert "--top" in proc.stderr and "≥ 0" in proc.stderr


# ---- errors ------------------------------------------------------------------------------------
def test_missing_model(cli, tmp_path):
    for cmd in (["inspect"], ["bench", "--runs", "1"]):
        proc = failed(sh(cli, cmd[0], tmp_path / "nope.swl", *cmd[1:]))
        assert "nope.swl" in proc.stderr
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 64), np.float32))
    failed(sh(cli, "run", tmp_path / "nope.swl", "--input", x, "--output", tmp_path / "y.npy"))


@pytest.mark.parametrize("cut", [0, 5, 100, -1])
def test_corrupt_model(cli, tmp_path, cut):
    data = require_file(MODELS / "digits_mlp.swl").read_bytes()
    bad = tmp_path / "bad.swl"
    bad.write_bytes(data[:cut] if cut >= 0 else data[:len(data) - 1])
    proc = failed(sh(cli, "inspect", bad))
    assert len(proc.stderr.strip()) > len("error: ")
    failed(sh(cli, "bench", bad, "--runs", 1))


def test_run_errors(cli, tmp_path):
    path, _, _ = model_info("digits_mlp")
    good = tmp_path / "x.npy"
    np.save(good, np.zeros((2, 64), np.float32))
    out = tmp_path / "y.npy"
    failed(sh(cli, "run", path, "--input", tmp_path / "missing.npy", "--output", out))
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"this is not an npy file")
    failed(sh(cli, "run", path, "--input", garbage, "--output", out))
    wrong_shape = tmp_path / "wrong.npy"
    np.save(wrong_shape, np.zeros((2, 65), np.float32))
    failed(sh(cli, "run", path, "--input", wrong_shape, "--output", out))
    failed(sh(cli, "run", path, "--input", f"nosuchinput={good}", "--output", out))
    failed(sh(cli, "run", path, "--input", good, "--output", out, "--backend", "nope"))
    failed(sh(cli, "run", path, "--input", good, "--output", out, "--threads", -1))
    assert not out.exists()


def test_usage_errors(cli):
    failed(sh(cli, "frobnicate"))
    failed(sh(cli, "run"))                      # no model
    proc = sh(cli)                              # bare command: usage, on either stream
    assert proc.returncode >= 0 and "inspect" in proc.stdout + proc.stderr


def test_inspect_passes_shows_folds_and_fusions(cli):
    path, graph, _ = model_info("digits_cnn")
    stored = {}
    for n in graph["nodes"]:
        stored[n["op"]] = stored.get(n["op"], 0) + 1
    assert stored["BatchNormalization"] == 2 and stored["Relu"] == 1 and stored["Clip"] == 1
    doc = json.loads(ok(sh(cli, "inspect", path, "--json", "--passes")).stdout)
    assert doc["ops"] == stored
    # Each BatchNormalization folds into the Conv before it, then the Relu and the Clip (ReLU6)
    # fuse into those Convs as output clamps; MaxPool, Flatten and Gemm stay.
    assert doc["ops_after_passes"] == {"Conv": 2, "MaxPool": 1, "Flatten": 1, "Gemm": 1}
    assert doc["inputs"][0]["shape"] == ["batch", 1, 8, 8]
    text = ok(sh(cli, "inspect", path, "--passes")).stdout
    assert "9 nodes stored → 5 after passes" in text
