"""The bundled digits models (tools/train_digits.py): accuracy through Python equals the
`correct` count recorded in models/digits_metrics.json, on every backend, batched and one by one;
logits match a float64 numpy evaluation of the same graph."""
from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import numpy_ops as ref
import swiftlet
from conftest import BACKENDS, DATA, MODELS, assert_close, require_file

NAMES = ["digits_mlp", "digits_cnn"]


def load_digits():
    x = np.load(require_file(DATA / "digits_test_x.npy"))
    y = np.load(require_file(DATA / "digits_test_y.npy"))
    return x, y


def metrics(name):
    return json.loads(require_file(MODELS / "digits_metrics.json").read_text())[name]


def model_path(name):
    return require_file(MODELS / f"{name}.swl")


def shaped(x, info):
    """The test set is [n, 64]; the CNN takes [n, 1, 8, 8]."""
    return x.reshape((x.shape[0],) + tuple(info.shape[1:]))


def test_data_files():
    x, y = load_digits()
    assert x.ndim == 2 and x.shape[1] == 64 and y.shape == (x.shape[0],)
    assert y.dtype == np.int64
    for name in NAMES:
        m = metrics(name)
        assert m["total"] == len(y)
        assert abs(m["test_accuracy"] - m["correct"] / m["total"]) < 1e-9


@pytest.mark.parametrize("name", NAMES)
def test_io(name):
    with swiftlet.Model(model_path(name)) as m, m.session() as s:
        assert len(s.inputs) == 1 and len(s.outputs) == 1
        i, o = s.inputs[0], s.outputs[0]
        assert i.dtype == np.float32 and o.dtype == np.float32
        assert i.shape[0] is None and o.shape == (None, 10)
        assert i.shape[1:] == ((64,) if name == "digits_mlp" else (1, 8, 8))


@pytest.mark.parametrize("name", NAMES)
def test_accuracy_full_batch(name, backend, optimize):
    x, y = load_digits()
    with swiftlet.Model(model_path(name)) as m, m.session(backend, optimize=optimize) as s:
        logits = s.run({s.inputs[0].name: shaped(x, s.inputs[0])})[s.outputs[0].name]
    assert logits.shape == (len(y), 10)
    assert np.all(np.isfinite(logits))
    correct = int((logits.argmax(axis=1) == y).sum())
    assert correct == metrics(name)["correct"]


@pytest.mark.parametrize("name", NAMES)
def test_batch_one(name, backend):
    x, y = load_digits()
    with swiftlet.Model(model_path(name)) as m, m.session(backend, threads=1) as s:
        inp, out = s.inputs[0], s.outputs[0]
        full = s.run({inp.name: shaped(x, inp)})[out.name]
        for i in list(range(12)) + [len(y) - 1]:
            one = s.run({inp.name: shaped(x[i:i + 1], inp)})[out.name]
            assert one.shape == (1, 10)
            # a different batch may take a different summation order: close, not bitwise
            assert_close(one[0], full[i].astype(np.float64), rtol=0,
                         atol=1e-5 * max(1.0, float(np.abs(full[i]).max())))
            assert one[0].argmax() == full[i].argmax()


@pytest.mark.parametrize("name", NAMES)
def test_logits_match_numpy_graph(name, backend):
    """The same graph evaluated by numpy_ops.run_graph in float64."""
    x, _ = load_digits()
    path = model_path(name)
    tensors = load_file(str(path))
    with safe_open(str(path), "np") as f:
        graph = json.loads(f.metadata()["graph"])
    with swiftlet.Model(path) as m, m.session(backend) as s:
        inp, out = s.inputs[0], s.outputs[0]
        xs = shaped(x[:64], inp)
        got = s.run({inp.name: xs})[out.name]
    expected = ref.run_graph(graph, tensors, {inp.name: xs})[out.name]
    scale = np.abs(expected).max(axis=1, keepdims=True)
    # several layers deep: 1e-4 of each row's largest logit; a wrong layer is off by O(1)
    assert_close(got, expected, rtol=0, atol=1e-4 * np.broadcast_to(scale, expected.shape))
