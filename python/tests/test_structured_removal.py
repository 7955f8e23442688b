"""Structured removal (issue 4): `swiftlet compress --drop-heads/--drop-neurons/--drop-layers` and
`swiftlet analyze --heads/--neuron-groups/--block`.

The reference is the unmodified model with the removed part's weights zeroed (or, for a block,
its residual input passed on), run by onnxruntime or numpy: removing head h is zeroing rows
h·D … (h+1)·D − 1 of the output projection; removing FFN neuron j is zeroing row j of the second
layer; dropping a block is the model with the block's input where its output was. The .swl must
also be smaller: the weights shrink and the nodes go."""
from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from safetensors.numpy import load_file

import swiftlet
from conftest import BACKENDS, DATA, MODELS, graph_nodes, randn, require_file
from digits_reference import forward_mlp

ENCODER = MODELS / "tiny_encoder.onnx"
MLP = MODELS / "digits_mlp.swl"
HEADS, HEAD_SIZE, HIDDEN, FFN = 4, 8, 32, 64
SHAPES = [(3, 7, True), (1, 1, False), (2, 30, True)]


def feeds(batch, seq, padded, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    if padded:
        for row in range(batch):
            mask[row, max(1, seq - row - 1):] = 0
    return {"input_ids": rng.integers(0, 100, (batch, seq)).astype(np.int64), "attention_mask": mask}


def cli_run(cli, *arguments):
    return subprocess.run([cli, *map(str, arguments)], capture_output=True, text=True)


def compress(cli, tmp_path, source, *arguments, name="out.swl"):
    out = tmp_path / name
    result = cli_run(cli, "compress", source, out, *arguments)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


# ---- the encoder's ONNX graph, edited for onnxruntime -------------------------------------------
def encoder():
    return onnx.load(str(require_file(ENCODER)))


def weight_name(model, node_name):
    return next(node for node in model.graph.node if node.name == node_name).input[1]


def zero_rows(model, node_name, rows):
    """Zeroes rows (K indices) of a MatMul's [K, N] weight in place."""
    name = weight_name(model, node_name)
    tensor = next(t for t in model.graph.initializer if t.name == name)
    values = onnx.numpy_helper.to_array(tensor).copy()
    values[list(rows)] = 0
    tensor.CopyFrom(onnx.numpy_helper.from_array(values, name))
    return model


def without_heads(model, layer, heads):
    return zero_rows(model, f"/layers.{layer}/o/MatMul", [h * HEAD_SIZE + d for h in heads for d in range(HEAD_SIZE)])


def without_neurons(model, layer, neurons):
    return zero_rows(model, f"/layers.{layer}/down/MatMul", neurons)


def output_of(model, node_name):
    return next(node for node in model.graph.node if node.name == node_name).output[0]


def without_layer(model, layer):
    """The encoder with layer `layer` skipped: its readers read its input instead."""
    source = "/norm/LayerNormalization" if layer == 0 else f"/layers.{layer - 1}/norm2/LayerNormalization"
    old, new = output_of(model, f"/layers.{layer}/norm2/LayerNormalization"), output_of(model, source)
    for node in model.graph.node:
        if not node.name.startswith(f"/layers.{layer}/"):
            node.input[:] = [new if name == old else name for name in node.input]
    for output in model.graph.output:
        if output.name == old:
            output.name = new
    return model


def ort_run(model, inputs):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, inputs)[0]


def swiftlet_run(path, inputs, backend="cpu"):
    with swiftlet.Model(str(path)) as model, model.session(backend=backend, threads=1) as session:
        return next(iter(session.run(inputs).values()))


def assert_matches(path, reference, backend, changed_from=None):
    """Swiftlet on `path` agrees with onnxruntime on `reference` (1e-4 of the output's scale) at
    every shape; `changed_from`: the removal must change the answer well beyond that tolerance."""
    for seed, (batch, seq, padded) in enumerate(SHAPES):
        inputs = feeds(batch, seq, padded, seed)
        expected = ort_run(reference, inputs)
        got = swiftlet_run(path, inputs, backend)
        scale = float(np.abs(expected).max())
        assert got.shape == expected.shape
        error = float(np.abs(got - expected).max())
        assert error <= 1e-4 * scale, f"{batch}×{seq}: {error:.3g} vs scale {scale:.3g}"
        if changed_from is not None and seq > 1:
            assert float(np.abs(expected - ort_run(changed_from, inputs)).max()) > 1e-2 * scale


def tensor_shapes(path):
    return {name: value.shape for name, value in load_file(str(path)).items()}


# ---- heads --------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropped_heads_equal_zeroed_output_projection_rows(cli, tmp_path, backend):
    path, stdout = compress(cli, tmp_path, ENCODER, "--drop-heads", "/layers.0/*=1", "--drop-heads", "/layers.1/*=0,2-3")
    assert "heads 1 of 4 removed from /layers.0/" in stdout and "heads 0,2-3 of 4 removed from /layers.1/" in stdout
    reference = without_heads(without_heads(encoder(), 0, [1]), 1, [0, 2, 3])
    assert_matches(path, reference, backend, changed_from=encoder())

    # The projections really shrank: Q/K/V lose the heads' columns, the output projection its rows.
    shapes = tensor_shapes(path)
    kept = {0: 3, 1: 1}
    for layer, heads in kept.items():
        nodes = [n for name, n in graph_nodes(path).items() if name.startswith(f"/layers.{layer}/") and n["op"] == "Linear"]
        widths = sorted(shapes[n["inputs"][1]] for n in nodes)
        assert widths == sorted([(HIDDEN, heads * HEAD_SIZE)] * 3 + [(heads * HEAD_SIZE, HIDDEN), (HIDDEN, FFN), (FFN, HIDDEN)])
    # Each head: its Q/K/V columns with biases and its D rows of the output projection.
    per_head = 3 * (HIDDEN * HEAD_SIZE + HEAD_SIZE) + HEAD_SIZE * HIDDEN
    unchanged, _ = compress(cli, tmp_path, ENCODER, "--attention", "*=full", name="unchanged.swl")
    assert float_count(unchanged) - float_count(path) == 4 * per_head


def float_count(path):
    return sum(v.size for v in load_file(str(path)).values() if v.dtype == np.float32)


# ---- heads in hand-made graphs: constant and Shape-computed Reshapes, allowzero -----------------
def attention_graph(path, style, rng, mask_heads=None):
    """x [b, s, 8] → Q/K/V Linear → Reshape [b, s, 2, 4] → Attention → Reshape [b, s, 8] → Linear.
    style: "constant" (shape attributes), "shape-of" (HF: Shape(projection)[:2] + (H, D)), or
    "allowzero" (fixed dims, allowzero = 1)."""
    from swiftlet import swl
    tensors = {f"w{p}": randn(rng, 8, 8) for p in "qkvo"} | {f"b{p}": randn(rng, 8) for p in "qkvo"}
    dims = [1, 3, 8] if style == "allowzero" else ["b", "s", 8]
    nodes = [swl.node("Linear", ["x", f"w{p}", f"b{p}"], [p], name=f"proj_{p}") for p in "qkvo" if p != "o"]

    def reshape(source, target, name, size):
        if style == "shape-of":
            tensors[f"{name}.first"] = np.array([0, 1], np.int64)
            tensors[f"{name}.rest"] = np.array(size, np.int64)
            return [swl.node("Shape", [source], [f"{name}.shape"]),
                    swl.node("Gather", [f"{name}.shape", f"{name}.first"], [f"{name}.lead"], axis=0),
                    swl.node("Concat", [f"{name}.lead", f"{name}.rest"], [f"{name}.full"], axis=0),
                    swl.node("Reshape", [source, f"{name}.full"], [target], name=name)]
        if style == "allowzero":
            return [swl.node("Reshape", [source], [target], name=name, shape=[1, 3, *size], allowzero=1)]
        return [swl.node("Reshape", [source], [target], name=name, shape=[0, 0, *size])]

    for p in "qkv":
        nodes += reshape(p, f"{p}4", f"split_{p}", [2, 4])
    inputs = ["q4", "k4", "v4"] + (["mask"] if mask_heads else [])
    nodes.append(swl.node("Attention", inputs, ["context4"], name="attention", scale=0.5))
    nodes += reshape("context4", "context", "merge", [8])
    nodes.append(swl.node("Linear", ["context", "wo", "bo"], ["y"], name="proj_o"))
    graph_inputs = [swl.value_info("x", "F32", dims)]
    if mask_heads:
        graph_inputs.append(swl.value_info("mask", "F32", ["b", mask_heads, "s", "s"]))
    swl.write_model(str(path), inputs=graph_inputs, outputs=[swl.value_info("y", "F32", dims)], nodes=nodes, tensors=tensors)
    return tensors


def attention_reference(t, x, removed_heads):
    """The graph in float64 with the removed heads' rows of W_o zeroed."""
    project = {p: (x @ t[f"w{p}"].astype(np.float64) + t[f"b{p}"]).reshape(*x.shape[:2], 2, 4) for p in "qkv"}
    scores = 0.5 * np.einsum("bihd,bjhd->bhij", project["q"], project["k"])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    context = np.einsum("bhij,bjhd->bihd", weights, project["v"]).reshape(*x.shape[:2], 8)
    wo = t["wo"].astype(np.float64).copy()
    for head in removed_heads:
        wo[head * 4:(head + 1) * 4] = 0
    return context @ wo + t["bo"]


@pytest.mark.parametrize("style", ["constant", "shape-of", "allowzero"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_heads_drop_whatever_way_the_reshapes_get_their_shapes(cli, tmp_path, rng, style, backend):
    tensors = attention_graph(tmp_path / "a.swl", style, rng)
    path, stdout = compress(cli, tmp_path, tmp_path / "a.swl", "--drop-heads", "attention=0")
    assert "heads 0 of 2 removed from attention" in stdout
    x = randn(rng, 1, 3, 8)
    got = swiftlet_run(path, {"x": x}, backend)
    expected = attention_reference(tensors, x.astype(np.float64), [0])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert np.abs(expected - attention_reference(tensors, x.astype(np.float64), [])).max() > 1e-2 * np.abs(expected).max()
    nodes = graph_nodes(path)
    assert not any(node["op"] in ("Shape", "Gather", "Concat") for node in nodes.values())
    assert all(node["attrs"]["shape"] in ([0, 0, 1, 4], [0, 0, 4]) for node in nodes.values() if node["op"] == "Reshape")


def test_heads_with_a_per_head_mask_or_no_projection_are_refused(cli, tmp_path, rng):
    from swiftlet import swl
    attention_graph(tmp_path / "masked.swl", "constant", rng, mask_heads=2)
    result = cli_run(cli, "compress", tmp_path / "masked.swl", tmp_path / "out.swl", "--drop-heads", "attention=1")
    assert result.returncode != 0 and "its mask [b, 2, s, s] differs per head" in result.stderr, result.stderr
    swl.write_model(str(tmp_path / "bare.swl"), inputs=[swl.value_info(n, "F32", ["b", "s", 2, 4]) for n in "qkv"],
                    outputs=[swl.value_info("y", "F32", ["b", "s", 2, 4])],
                    nodes=[swl.node("Attention", ["q", "k", "v"], ["y"], name="attention")], tensors={})
    result = cli_run(cli, "compress", tmp_path / "bare.swl", tmp_path / "out.swl", "--drop-heads", "attention=1")
    assert result.returncode != 0 and "input 0 must be a Reshape" in result.stderr, result.stderr
    assert not (tmp_path / "out.swl").exists()


# ---- FFN neurons --------------------------------------------------------------------------------
def smallest_neurons(model, layer, fraction):
    """The neurons with the smallest ‖up column‖·‖down row‖ (ties: lower index first)."""
    arrays = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    up = arrays[weight_name(model, f"/layers.{layer}/up/MatMul")].astype(np.float64)      # [K, N]
    down = arrays[weight_name(model, f"/layers.{layer}/down/MatMul")].astype(np.float64)  # [N, K]
    score = np.sqrt((up ** 2).sum(axis=0) * (down ** 2).sum(axis=1))
    order = sorted(range(FFN), key=lambda j: (score[j], j))
    return sorted(order[:round(fraction * FFN)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropped_neurons_equal_zeroed_second_layer_rows(cli, tmp_path, backend):
    # '/layers.0/*' names every linear layer of the layer; only its FFN's first one takes the rule.
    path, stdout = compress(cli, tmp_path, ENCODER, "--drop-neurons", "/layers.0/*=5,9-20", "--drop-neurons", "/layers.1/*=25%")
    assert "13 of 64 neurons removed" in stdout and "16 of 64 neurons removed" in stdout
    reference = without_neurons(without_neurons(encoder(), 0, [5, *range(9, 21)]), 1, smallest_neurons(encoder(), 1, 0.25))
    assert_matches(path, reference, backend, changed_from=encoder())
    shapes = set(tensor_shapes(path).values())
    assert {(HIDDEN, FFN - 13), (FFN - 13, HIDDEN), (HIDDEN, FFN - 16), (FFN - 16, HIDDEN)} <= shapes
    assert (HIDDEN, FFN) not in shapes  # ((64, 32) is also the position table)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropped_neurons_of_the_digits_mlp_match_numpy(cli, tmp_path, backend):
    """Gemm with transB (W stored [N, K]) and a chain of two FFN pairs: fc1 → fc2 → fc3."""
    x = np.load(require_file(DATA / "digits_test_x.npy")).astype(np.float32)
    path, _ = compress(cli, tmp_path, MLP, "--drop-neurons", "fc1=50%", "--drop-neurons", "fc2=0-3,30")
    weights = load_file(str(MLP))
    w1, w2 = weights["fc1.weight"].astype(np.float64), weights["fc2.weight"].astype(np.float64)
    score = np.sqrt((w1 ** 2).sum(axis=1) * (w2 ** 2).sum(axis=0))
    removed1 = sorted(sorted(range(64), key=lambda j: (score[j], j))[:32])
    zeroed = dict(weights)
    zeroed["fc2.weight"] = weights["fc2.weight"].copy()
    zeroed["fc2.weight"][:, removed1] = 0
    zeroed["fc3.weight"] = weights["fc3.weight"].copy()
    zeroed["fc3.weight"][:, [0, 1, 2, 3, 30]] = 0
    expected = forward_mlp(zeroed, x)
    with swiftlet.Model(str(path)) as model, model.session(backend=backend, threads=1) as session:
        got = session.run({"input": x})["logits"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    assert np.abs(expected - forward_mlp(weights, x)).max() > 1e-2 * np.abs(expected).max()
    shapes = tensor_shapes(path)
    assert sorted(s for s in shapes.values() if len(s) == 2) == [(10, 27), (27, 32), (32, 64)]


# ---- blocks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dropped", [[0], [1], [0, 1]])
def test_dropped_layers_pass_their_input_on(cli, tmp_path, backend, dropped):
    pattern = "/layers.[01]/*" if len(dropped) == 2 else f"/layers.{dropped[0]}/*"
    path, stdout = compress(cli, tmp_path, ENCODER, "--drop-layers", pattern)
    assert f"block '{pattern}' dropped" in stdout
    reference = encoder()
    for layer in reversed(dropped):
        reference = without_layer(reference, layer)
    assert_matches(path, reference, backend, changed_from=encoder())
    # The layer's nodes are gone (layer 0's padding-mask arithmetic stays: layer 1 reads it).
    names = graph_nodes(path)
    for layer in dropped:
        # What may stay: layer 0's mask arithmetic; an Identity naming the output when it is the model's.
        allowed = ("Unsqueeze", "Cast", "Sub", "Mul") if layer == 0 and 1 not in dropped else ()
        left = [name for name, node in names.items() if name.startswith(f"/layers.{layer}/") and node["op"] not in allowed
                and not (node["op"] == "Identity" and name == f"{pattern} (dropped)")]
        assert left == [], left


# ---- analyze ------------------------------------------------------------------------------------
def divergence(output, reference):
    """Per sample (first axis) ‖y′ − y‖² over the mean ‖y‖²; the model's is their mean."""
    flat, ref = output.reshape(len(output), -1).astype(np.float64), reference.reshape(len(reference), -1).astype(np.float64)
    return float(np.mean(((flat - ref) ** 2).sum(axis=1)) / np.mean((ref ** 2).sum(axis=1)))


def test_analyze_measures_heads_neuron_groups_and_blocks(cli, tmp_path):
    inputs = feeds(4, 9, True, 7)
    np.save(tmp_path / "ids.npy", inputs["input_ids"])
    np.save(tmp_path / "mask.npy", inputs["attention_mask"])
    result = cli_run(cli, "analyze", ENCODER, "--data", f"input_ids={tmp_path / 'ids.npy'}",
                     "--data", f"attention_mask={tmp_path / 'mask.npy'}", "--heads", "--neuron-groups", "4",
                     "--block", "/layers.1/*", "--json", tmp_path / "a.json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "a.json").read_text())
    baseline = ort_run(encoder(), inputs)
    expected = {}
    for layer in range(2):
        attention = [n for n in component_names(report) if n.startswith(f"/layers.{layer}/") and " head " in n]
        assert len(attention) == HEADS
        for head in range(HEADS):
            name = next(n for n in attention if n.endswith(f" head {head}"))
            expected[name] = ("attention head", without_heads(encoder(), layer, [head]),
                              3 * (HIDDEN * HEAD_SIZE + HEAD_SIZE) + HEAD_SIZE * HIDDEN)
        groups = [n for n in component_names(report) if n.startswith(f"/layers.{layer}/") and " neurons " in n]
        assert len(groups) == 4
        for group in range(4):
            first, last = group * 16, group * 16 + 15
            name = next(n for n in groups if n.endswith(f" neurons {first}-{last}"))
            expected[name] = ("FFN neuron group", without_neurons(encoder(), layer, range(first, last + 1)),
                              16 * (HIDDEN + 1) + 16 * HIDDEN)
    expected["block /layers.1/*"] = ("block", without_layer(encoder(), 1),
                                     4 * (HIDDEN * HIDDEN + HIDDEN) + 2 * HIDDEN * FFN + FFN + HIDDEN + 4 * HIDDEN)
    components = {c["component"]: c for c in report["components"]}
    assert set(components) == set(expected)
    for name, (kind, model, parameters) in expected.items():
        component = components[name]
        assert component["kind"] == kind and component["approximation"] == "removed"
        assert component["parameters"] == parameters, name
        loss = divergence(ort_run(model, inputs), baseline)
        assert loss > 1e-5, name  # the removal changes the output: the check below has teeth
        assert component["loss"] == pytest.approx(loss, rel=1e-3, abs=1e-8), name
        assert component["significance"] == pytest.approx(loss, rel=1e-3, abs=1e-8)
    ranked = [c["significance"] for c in sorted(report["components"], key=lambda c: c["rank"])]
    assert ranked == sorted(ranked, reverse=True)


STEP = re.compile(r"^(\d+)\s+(.+?)\s+(inf|[-+.\de]+)\s+([\d.]+)\s+(\S+)\s+(yes|no)(?: \(cannot: (.*)\))?$")


def test_compress_auto_removes_structures_within_budget(cli, tmp_path):
    """compress --auto with structures as candidates (no layer encoding): least significant
    first, kept exactly when the divergence stays within the budget, refused with a reason when
    it cannot be made (a node's last head); bits per weight fall by each kept structure's share
    of the linear weights; the written model is the one --drop-heads/--drop-neurons of the kept
    structures makes, and its divergence from the original (onnxruntime, weights zeroed) is the
    last kept step's."""
    inputs = feeds(4, 9, True, 7)
    np.save(tmp_path / "ids.npy", inputs["input_ids"])
    np.save(tmp_path / "mask.npy", inputs["attention_mask"])
    data = ["--data", f"input_ids={tmp_path / 'ids.npy'}", "--data", f"attention_mask={tmp_path / 'mask.npy'}"]
    budget = 0.05
    auto, stdout = compress(cli, tmp_path, ENCODER, "--auto", "--heads", "--neuron-groups", "4", "--block", "/layers.1/*",
                            "--max-loss-increase", str(budget), *data, "--threads", "1", name="auto.swl")
    steps = [STEP.match(line).groups() for line in stdout.splitlines() if STEP.match(line)]
    assert len(steps) == 2 * HEADS + 2 * 4 + 1  # every structure tried once
    # A head or a group of 16 neurons takes 1024 of the 2 × (4·32·32 + 2·32·64) linear weights.
    linear_weights, bits = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN), 32.0
    kept, refused, dropped_heads, dropped_neurons = [], [], {}, {}
    for _, component, loss, step_bits, _, decision, reason in steps:
        if reason is not None:
            assert loss == "inf" and decision == "no" and float(step_bits) == pytest.approx(bits, abs=1e-3)
            refused.append(reason)
            continue
        assert (decision == "yes") == (float(loss) <= budget), (component, loss, decision)
        if decision == "yes":
            assert not component.startswith("block ")  # its divergence is far over this budget
            bits -= 32 * 1024 / linear_weights
            assert float(step_bits) == pytest.approx(bits, abs=1e-3), component
            kept.append(float(loss))
            node, kind, which = re.match(r"(\S+) (head|neurons) (\S+)$", component).groups()
            (dropped_heads if kind == "head" else dropped_neurons).setdefault(node, []).append(which)
    assert kept and len(kept) < len(steps) - len(refused)  # some kept, some over budget
    assert refused and all("all 4 heads would go" in reason for reason in refused)
    # The same removals by hand give the same model.
    flags = [f for node, heads in dropped_heads.items() for f in ("--drop-heads", f"{node}={','.join(heads)}")]
    flags += [f for node, groups in dropped_neurons.items() for f in ("--drop-neurons", f"{node}={','.join(groups)}")]
    by_hand, _ = compress(cli, tmp_path, ENCODER, *flags, name="by_hand.swl")
    np.testing.assert_array_equal(swiftlet_run(auto, inputs), swiftlet_run(by_hand, inputs))
    # Its divergence, from onnxruntime on the original with those weights zeroed.
    reference = encoder()
    for node, heads in dropped_heads.items():
        reference = without_heads(reference, int(node.split(".")[1].split("/")[0]), [int(h) for h in heads])
    for node, groups in dropped_neurons.items():
        neurons = [n for group in groups for n in range(int(group.split("-")[0]), int(group.split("-")[1]) + 1)]
        reference = without_neurons(reference, int(node.split(".")[1].split("/")[0]), neurons)
    loss = divergence(ort_run(reference, inputs), ort_run(encoder(), inputs))
    assert loss == pytest.approx(kept[-1], rel=1e-3) and loss <= budget
    assert f"--auto: {len(kept)} of {len(steps)} changes kept" in stdout


def test_head_rules_inside_a_dropped_block_are_moot(cli, tmp_path):
    """--drop-heads for a node that --drop-layers takes is moot, not an error (as --auto may
    keep a head, then its block): the model is the block's removal alone."""
    inputs = feeds(2, 5, False, 3)
    both, stdout = compress(cli, tmp_path, ENCODER, "--drop-layers", "/layers.1/*", "--drop-heads", "/layers.1/*=0", name="both.swl")
    assert "block '/layers.1/*' dropped" in stdout and "heads" not in stdout
    block, _ = compress(cli, tmp_path, ENCODER, "--drop-layers", "/layers.1/*", name="block.swl")
    np.testing.assert_array_equal(swiftlet_run(both, inputs), swiftlet_run(block, inputs))


def component_names(report):
    return [c["component"] for c in report["components"]]


def test_analyze_neuron_groups_with_labels_match_numpy(cli, tmp_path):
    x = np.load(require_file(DATA / "digits_test_x.npy")).astype(np.float32)
    y = np.load(require_file(DATA / "digits_test_y.npy")).astype(np.int64)
    result = cli_run(cli, "analyze", MLP, "--data", DATA / "digits_test_x.npy", "--labels", DATA / "digits_test_y.npy",
                     "--neuron-groups", "3", "--json", tmp_path / "a.json")
    assert result.returncode == 0, result.stderr
    components = {c["component"]: c for c in json.loads((tmp_path / "a.json").read_text())["components"]}
    weights = load_file(str(MLP))
    # fc1's 64 neurons in groups 0-20, 21-41, 42-63; fc2's 32 in 0-9, 10-20, 21-31 (fc3 feeds the output).
    bounds = {"fc1": (64, "fc2"), "fc2": (32, "fc3")}
    assert len(components) == 6
    for first, (count, second) in bounds.items():
        for group in range(3):
            start, stop = group * count // 3, (group + 1) * count // 3
            zeroed = dict(weights)
            zeroed[f"{second}.weight"] = weights[f"{second}.weight"].copy()
            zeroed[f"{second}.weight"][:, start:stop] = 0
            logits = forward_mlp(zeroed, x)
            shifted = logits - logits.max(axis=1, keepdims=True)
            loss = float(-(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean())
            component = components[f"{first} neurons {start}-{stop - 1}"]
            assert component["loss"] == pytest.approx(loss, rel=1e-4)


# ---- refusals -----------------------------------------------------------------------------------
@pytest.mark.parametrize("source,arguments,message", [
    (ENCODER, ["--drop-heads", "/layers.0/*=4"], "head 4 does not exist (it has 4)"),
    (ENCODER, ["--drop-heads", "/layers.0/*=0-3"], "all 4 heads would go"),
    (ENCODER, ["--drop-heads", "/nosuch/*=1"], "matches no Attention node"),
    (ENCODER, ["--drop-heads", "/layers.0/*"], "--drop-heads takes GLOB=HEADS"),
    (ENCODER, ["--drop-heads", "/layers.0/*=1-"], "head list '1-'"),
    (ENCODER, ["--drop-heads", "/layers.0/*=2-1"], "head list '2-1'"),
    (MLP, ["--drop-heads", "*=0"], "matches no Attention node"),
    (MLP, ["--drop-neurons", "fc3=1"], "matches no FFN's first linear layer"),
    (MLP, ["--drop-neurons", "fc1=64"], "neuron 64 does not exist (it has 64)"),
    (MLP, ["--drop-neurons", "fc1=100%"], "all 64 neurons would go"),
    (MLP, ["--drop-neurons", "fc1=101%"], "percentage"),
    (MLP, ["--drop-neurons", "fc1=x%"], "percentage"),
    (MLP, ["--drop-neurons", "fc1=a"], "neuron list 'a'"),
    (MLP, ["--drop-neurons", "fc1=0-99999999999"], "beyond any model's"),
    (MLP, ["--drop-neurons", "fc1=5", "--quantize", "int8", "--calibration", DATA / "digits_test_x.npy"],
     "--calibration cannot be combined"),
    (MLP, ["--drop-layers", "nosuch*"], "matches no node"),
    (MLP, ["--drop-layers", "fc2"], "none does"),
    (ENCODER, ["--drop-layers", "*norm*"], "pairs do"),
    (MLP, ["--auto", "--quantize", "int8", "--max-loss-increase", "1", "--data", DATA / "digits_test_x.npy",
           "--drop-layers", "fc2"], "cannot be combined with --auto"),
])
def test_bad_removals_are_refused_and_write_nothing(cli, tmp_path, source, arguments, message):
    out = tmp_path / "out.swl"
    result = cli_run(cli, "compress", source, out, *arguments)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert not out.exists()


@pytest.mark.parametrize("arguments,message", [
    (["--heads"], "no Attention node"),
    (["--neuron-groups", "1"], "at least 2"),
    (["--neuron-groups", "33"], "has 32 neurons: fewer than 33 groups"),
    (["--block", "fc2"], "none does"),
])
def test_bad_structural_analyses_are_refused(cli, arguments, message):
    result = cli_run(cli, "analyze", MLP, "--data", DATA / "digits_test_x.npy", *arguments)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
