"""`swiftlet analyze` (Significance Analysis) and `swiftlet compress --auto` end to end on the
digits MLP: every reported loss recomputed in numpy from the model's own weights or from the
model `swiftlet compress --layer` makes, the ranking, the JSON and SVG files, the greedy choice's
rules, and the errors."""
from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from safetensors.numpy import load_file

import swiftlet
from swiftlet import swl
from conftest import DATA, MODELS, graph_nodes, require_file

MLP = MODELS / "digits_mlp.swl"
LAYERS = ["fc1", "fc2", "fc3"]


@pytest.fixture(scope="module")
def digits():
    x = np.load(require_file(DATA / "digits_test_x.npy")).astype(np.float32)
    y = np.load(require_file(DATA / "digits_test_y.npy")).astype(np.int64)
    return x, y


def mlp_logits(x, removed=None, inputs=slice(None)):
    """The MLP in numpy (Gemm, transB = 1, ReLU between), with one layer's W [N, K] set to 0 in
    the columns `inputs` (all of them unless given)."""
    weights = load_file(str(MLP))
    h = x.astype(np.float64)
    for index, layer in enumerate(LAYERS):
        w = weights[f"{layer}.weight"].copy()
        if layer == removed:
            w[:, inputs] = 0
        h = h @ w.T.astype(np.float64) + weights[f"{layer}.bias"]
        if index < len(LAYERS) - 1:
            h = np.maximum(h, 0)
    return h


def cross_entropy(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def divergence(output, reference):
    """Per sample ‖y′ − y‖² over the mean ‖y‖² of all samples; the model's is their mean."""
    return float(np.mean(((output - reference) ** 2).sum(axis=1)) / np.mean((reference ** 2).sum(axis=1)))


def run_model(path, x):
    with swiftlet.Model(str(path)) as model, model.session(threads=1) as session:
        return session.run({"input": x})["logits"].astype(np.float64)


def cli_run(cli, *arguments):
    return subprocess.run([cli, *map(str, arguments)], capture_output=True, text=True)


def analyze(cli, tmp_path, *extra):
    result = cli_run(cli, "analyze", MLP, "--data", DATA / "digits_test_x.npy", "--json", tmp_path / "a.json",
                     "--plot", tmp_path / "a.svg", "--threads", "1", *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout, json.loads((tmp_path / "a.json").read_text())


def test_analyze_with_labels_reports_each_layers_cross_entropy(tmp_path, cli, digits):
    x, y = digits
    stdout, report = analyze(cli, tmp_path, "--labels", DATA / "digits_test_y.npy")
    assert report["measure"] == "cross-entropy" and report["samples"] == len(y)
    baseline = cross_entropy(mlp_logits(x), y)
    assert report["baseline"] == pytest.approx(baseline, rel=1e-5)
    components = report["components"]
    assert {(c["component"], c["approximation"]) for c in components} == {(l, a) for l in LAYERS for a in ("mxfp4", "removed")}
    for c in components:
        if c["approximation"] == "removed":
            expected = cross_entropy(mlp_logits(x, removed=c["component"]), y)
        else:  # the same layer alone in MXFP4, made by the compress command and run through Python
            path = tmp_path / f"{c['component']}.swl"
            assert cli_run(cli, "compress", MLP, path, "--layer", f"{c['component']}=mxfp4").returncode == 0
            expected = cross_entropy(run_model(path, x), y)
        assert c["loss"] == pytest.approx(expected, rel=1e-5), c
        assert c["significance"] == pytest.approx(c["loss"] - report["baseline"], abs=1e-9)
        assert 0 <= c["worse_fraction"] <= 1
    significances = [c["significance"] for c in components]
    assert significances == sorted(significances, reverse=True)
    assert [c["rank"] for c in components] == list(range(1, len(components) + 1))
    # Removing a layer of a 3-layer MLP destroys it; a 4-bit layer barely moves the loss.
    assert all(c["approximation"] == "removed" for c in components[:3])
    assert "cross-entropy of the unmodified model" in stdout and "fc1" in stdout
    svg = ElementTree.parse(tmp_path / "a.svg").getroot()
    bars = [e for e in svg.iter() if e.tag.endswith("rect") and float(e.get("height")) > 10]
    assert len(bars) == len(components)
    widths = [float(b.get("width")) for b in bars]
    assert widths == sorted(widths, reverse=True) and widths[0] > 0


def test_analyze_without_labels_reports_output_divergence(tmp_path, cli, digits):
    x, _ = digits
    _, report = analyze(cli, tmp_path, "--approximate", "int8", "--approximate", "removed")
    assert report["measure"] == "divergence" and report["baseline"] == 0
    reference = mlp_logits(x)
    for c in report["components"]:
        if c["approximation"] == "removed":
            expected = divergence(mlp_logits(x, removed=c["component"]), reference)
        else:
            path = tmp_path / f"{c['component']}.swl"
            assert cli_run(cli, "compress", MLP, path, "--layer", f"{c['component']}=int8").returncode == 0
            expected = divergence(run_model(path, x), reference)
        assert c["loss"] == pytest.approx(expected, rel=1e-4), c
        assert c["worse_fraction"] == 1.0  # any change moves every sample away from the original


def test_analyze_weight_groups_zero_contiguous_inputs(tmp_path, cli, digits):
    """--weight-groups G: each layer's W columns in G contiguous ranges (sizes differing by at
    most one), each zeroed alone; every loss recomputed in numpy."""
    x, y = digits
    _, report = analyze(cli, tmp_path, "--labels", DATA / "digits_test_y.npy", "--weight-groups", "3")
    weights = load_file(str(MLP))
    expected_names = set()
    for layer in LAYERS:
        n, k = weights[f"{layer}.weight"].shape
        for group in range(3):
            start, stop = group * k // 3, (group + 1) * k // 3
            expected_names.add(f"{layer} inputs {start}-{stop - 1}")
    components = report["components"]
    assert {c["component"] for c in components} == expected_names  # no layer rows without --approximate
    for c in components:
        layer, _, span = c["component"].split(" ")
        start, stop = map(int, span.split("-"))
        assert c["kind"] == "weight group" and c["approximation"] == "removed"
        assert c["parameters"] == weights[f"{layer}.weight"].shape[0] * (stop - start + 1)
        expected = cross_entropy(mlp_logits(x, removed=layer, inputs=slice(start, stop + 1)), y)
        assert c["loss"] == pytest.approx(expected, rel=1e-5), c


def test_weight_groups_of_a_shared_weight_change_one_layer(tmp_path, cli, rng):
    """Two Linear nodes read one weight tensor: zeroing a group of the first's inputs leaves the
    second's weight whole (the group belongs to one layer, as the table says)."""
    w = rng.standard_normal((8, 8)).astype(np.float32)
    swl.write_model(str(tmp_path / "shared.swl"), inputs=[swl.value_info("x", "F32", ["m", 8])],
                    outputs=[swl.value_info("y", "F32", ["m", 8])],
                    nodes=[swl.node("Linear", ["x", "w"], ["h"], name="first"), swl.node("Linear", ["h", "w"], ["y"], name="second")],
                    tensors={"w": w})
    x = rng.standard_normal((20, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = cli_run(cli, "analyze", tmp_path / "shared.swl", "--data", tmp_path / "x.npy", "--weight-groups", "2",
                     "--json", tmp_path / "a.json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    losses = {c["component"]: c["loss"] for c in json.loads((tmp_path / "a.json").read_text())["components"]}
    reference = x.astype(np.float64) @ w @ w
    for layer in ("first", "second"):
        for start, stop in ((0, 4), (4, 8)):
            zeroed = w.astype(np.float64).copy()
            zeroed[start:stop] = 0  # Linear's W is [K, N]: rows are inputs
            output = x @ zeroed @ w if layer == "first" else x @ w @ zeroed
            assert losses[f"{layer} inputs {start}-{stop - 1}"] == pytest.approx(divergence(output, reference), rel=1e-4)


def encodings_of(path):
    """Layer name → encoding of a compressed file: an MX format's name, else the op type."""
    return {name: node.get("attrs", {}).get("format", node["op"]) for name, node in graph_nodes(path).items() if name in LAYERS}


def test_compress_auto_keeps_only_changes_within_budget(tmp_path, cli, digits):
    x, y = digits
    out = tmp_path / "auto.swl"
    result = cli_run(cli, "compress", MLP, out, "--auto", "--quantize", "mxfp4", "--keep", "mxint8",
                     "--data", DATA / "digits_test_x.npy", "--labels", DATA / "digits_test_y.npy",
                     "--max-loss-increase", "0.005", "--threads", "1")
    assert result.returncode == 0, result.stderr
    steps = [line.split() for line in result.stdout.splitlines() if line[:1].isdigit() and line.split()[1] in LAYERS]
    assert len(steps) == 3  # every layer tried once
    kept = {step[1] for step in steps if step[-1] == "yes"}
    encodings = encodings_of(out)
    assert {layer for layer, encoding in encodings.items() if encoding == "mxfp4"} == kept
    assert all(encodings[layer] == "mxint8" for layer in LAYERS if layer not in kept)
    # The written model's loss is the last kept step's, within budget of the original's.
    loss = cross_entropy(run_model(out, x), y)
    assert loss <= cross_entropy(mlp_logits(x), y) + 0.005 + 1e-6
    # Every step obeys both rules, whichever way it went: kept exactly when its loss is within
    # the budget and no more samples turned wrong than right, over budgets and formats that make
    # both outcomes happen.
    baseline = cross_entropy(mlp_logits(x), y)
    outcomes = set()
    for budget, fmt in [("0", "mxfp4"), ("0.005", "mxfp4"), ("0.005", "int8"), ("1", "mxfp4")]:
        run = cli_run(cli, "compress", MLP, tmp_path / "strict.swl", "--auto", "--quantize", fmt,
                      "--data", DATA / "digits_test_x.npy", "--labels", DATA / "digits_test_y.npy",
                      "--max-loss-increase", budget, "--threads", "1")
        assert run.returncode == 0, run.stderr
        rows = [line.split() for line in run.stdout.splitlines() if line[:1].isdigit() and line.split()[1] in LAYERS]
        assert len(rows) == 3
        for _, layer, loss, _, flips, kept in rows:
            lost, gained = map(int, flips.split("/"))
            within = float(loss) <= baseline + float(budget) + 1e-6 * baseline
            assert (kept == "yes") == (within and lost <= gained), (budget, fmt, layer, loss, flips, kept)
            outcomes.add((within, lost <= gained))
    assert (True, True) in outcomes and len(outcomes) > 1  # some kept, some refused


def test_compress_auto_stops_at_the_target_bits(tmp_path, cli):
    out = tmp_path / "target.swl"
    result = cli_run(cli, "compress", MLP, out, "--auto", "--quantize", "mxfp4", "--data", DATA / "digits_test_x.npy",
                     "--max-loss-increase", "1", "--target-bits", "20", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "target 20.0 reached" in result.stdout
    steps = [line.split() for line in result.stdout.splitlines() if line[:1].isdigit() and line.split()[1] in LAYERS]
    # Every step is kept (a budget of 1 is generous); the search stops at the first ≤ 20 bits.
    # Bits per weight: 32 for dense, 4.25 for MXFP4, weighted by size.
    assert all(step[-1] == "yes" for step in steps)
    bits = [float(step[3]) for step in steps]
    assert bits[-1] <= 20 and all(b > 20 for b in bits[:-1])
    sizes = {"fc1": 4096, "fc2": 2048, "fc3": 320}
    moved = [step[1] for step in steps]
    expected = (sum(sizes[l] * 4.25 for l in moved) + sum(sizes[l] * 32 for l in LAYERS if l not in moved)) / sum(sizes.values())
    assert bits[-1] == pytest.approx(expected, abs=1e-3)
    assert sorted(layer for layer, encoding in encodings_of(out).items() if encoding == "mxfp4") == sorted(moved)


@pytest.mark.parametrize("arguments,message", [
    (["analyze", MLP], "--data"),
    (["analyze", MLP, "--data", DATA / "digits_test_x.npy", "--approximate", "fp5"], "unknown format 'fp5'"),
    (["analyze", MLP, "--data", DATA / "digits_test_x.npy", "--labels", DATA / "digits_test_x.npy"], "must hold integers"),
    (["analyze", MLP, "--data", "nosuch=" + str(DATA / "digits_test_x.npy")], "no --data for the model's input 'input'"),
    (["analyze", MLP, "--data", DATA / "digits_test_x.npy", "--weight-groups", "1"], "weight groups must be at least 2"),
    (["analyze", MLP, "--data", DATA / "digits_test_x.npy", "--weight-groups", "33"], "'fc3' has 32 inputs: fewer than 33 weight groups"),
    (["compress", MLP, "/tmp/x.swl", "--auto", "--data", DATA / "digits_test_x.npy", "--max-loss-increase", "1"], "--quantize or --prune"),
    (["compress", MLP, "/tmp/x.swl", "--auto", "--quantize", "mxfp4", "--data", DATA / "digits_test_x.npy"], "--max-loss-increase"),
    (["compress", MLP, "/tmp/x.swl", "--quantize", "mxfp4", "--data", DATA / "digits_test_x.npy"], "go with --auto"),
    (["compress", MLP, "/tmp/x.swl", "--auto", "--quantize", "mxfp4", "--max-loss-increase", "1"], "--data"),
    (["compress", MLP, "/tmp/x.swl", "--auto", "--quantize", "mxfp4", "--max-loss-increase=-1",
      "--data", DATA / "digits_test_x.npy"], "--max-loss-increase ≥ 0"),
    (["compress", MLP, "/tmp/x.swl", "--quantize", "int8", "--heads"], "go with --auto"),
    (["compress", MLP, "/tmp/x.swl", "--auto", "--heads", "--max-loss-increase", "1", "--data", DATA / "digits_test_x.npy"],
     "--heads: the model has no Attention node"),
])
def test_bad_arguments_are_refused_with_a_reason(cli, arguments, message):
    result = cli_run(cli, *arguments)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_labels_that_do_not_fit_are_refused(tmp_path, cli, digits):
    _, y = digits
    np.save(tmp_path / "short.npy", y[:10])
    bad = y.copy()
    bad[3] = 10
    np.save(tmp_path / "bad.npy", bad)
    for path, message in [(tmp_path / "short.npy", "10 labels for 360 samples"), (tmp_path / "bad.npy", "label 10 is not a class")]:
        result = cli_run(cli, "analyze", MLP, "--data", DATA / "digits_test_x.npy", "--labels", path)
        assert result.returncode != 0 and message in result.stderr, result.stderr


def test_models_it_cannot_measure_are_refused(tmp_path, cli):
    from swiftlet import swl
    x = tmp_path / "x.npy"
    np.save(x, np.ones((4, 3), np.float32))
    # No linear layer: nothing to analyze.
    swl.write_model(str(tmp_path / "relu.swl"), inputs=[swl.value_info("x", "F32", ["n", 3])],
                    outputs=[swl.value_info("y", "F32", ["n", 3])], nodes=[swl.node("Relu", ["x"], ["y"])], tensors={})
    # A linear layer, but the first output is integer: neither loss is defined on it.
    swl.write_model(str(tmp_path / "int.swl"), inputs=[swl.value_info("x", "F32", ["n", 3])],
                    outputs=[swl.value_info("z", "I64", ["n", 2])],
                    nodes=[swl.node("Linear", ["x", "w"], ["y"], name="fc"), swl.node("Cast", ["y"], ["z"], to="I64")],
                    tensors={"w": np.ones((3, 2), np.float32)})
    for model, message in [("relu.swl", "no linear layers"), ("int.swl", "'z' is I64")]:
        result = cli_run(cli, "analyze", tmp_path / model, "--data", x)
        assert result.returncode != 0 and message in result.stderr, result.stderr
