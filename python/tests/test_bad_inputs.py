"""Bad arguments through the Python API: each raises a SwiftletError with the documented status
and a message (or TypeError/ValueError/KeyError where Python rejects it first), never a crash,
and the session keeps working afterwards."""
from __future__ import annotations

import numpy as np
import pytest

import swiftlet
from conftest import (BACKENDS, assert_close, assert_exact, model_bytes, randn, small_expected)
from swiftlet import swl


def expect_error(status_name, fn, *args, **kwargs):
    with pytest.raises(swiftlet.SwiftletError) as e:
        fn(*args, **kwargs)
    assert e.value.status_name == status_name, str(e.value)
    assert e.value.message.strip(), "the library must explain the failure"
    return e.value


@pytest.fixture(params=BACKENDS)
def session(request, small_bytes):
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session(request.param) as s:
        yield s


def _still_works(s):
    x = np.ones((2, 4), np.float32)
    assert_close(s.run({"x": x})["y"], small_expected(x)["y"])


def test_missing_file_not_found(tmp_path):
    expect_error("SWL_STATUS_NOT_FOUND", swiftlet.Model, tmp_path / "nope.swl")


def test_directory_is_not_a_model(tmp_path):
    # the header lists no status for "exists but is not a file"; any clean failure will do
    with pytest.raises(swiftlet.SwiftletError) as e:
        swiftlet.Model(tmp_path)
    assert e.value.status_name in ("SWL_STATUS_NOT_FOUND", "SWL_STATUS_INVALID_MODEL",
                                   "SWL_STATUS_INVALID_ARGUMENT")
    assert e.value.message


def test_unknown_backend(small_bytes):
    with swiftlet.Model.from_bytes(small_bytes) as m:
        err = expect_error("SWL_STATUS_NOT_FOUND", m.session, backend="no-such-backend")
        assert "no-such-backend" in err.message
        expect_error("SWL_STATUS_NOT_FOUND", m.session, backend="")
        expect_error("SWL_STATUS_NOT_FOUND", m.session,
                     options={"backend": "no-such-backend"})


def test_unknown_option_key(small_bytes):
    with swiftlet.Model.from_bytes(small_bytes) as m:
        err = expect_error("SWL_STATUS_NOT_FOUND", m.session, options={"graph.optimise": "1"})
        assert "graph.optimise" in err.message
        expect_error("SWL_STATUS_NOT_FOUND", m.session, options={"": "1"})


@pytest.mark.parametrize("value", ["maybe", "", "yes please"])
def test_bad_option_value(small_bytes, value):
    with swiftlet.Model.from_bytes(small_bytes) as m:
        expect_error("SWL_STATUS_INVALID_ARGUMENT", m.session, options={"graph.optimize": value})


@pytest.mark.parametrize("threads", [-1, -2**31])
def test_negative_threads(small_bytes, threads):
    with swiftlet.Model.from_bytes(small_bytes) as m:
        expect_error("SWL_STATUS_INVALID_ARGUMENT", m.session, threads=threads)
        expect_error("SWL_STATUS_INVALID_ARGUMENT", m.session, options={"threads": threads})


def test_threads_python_checks(small_bytes):
    with swiftlet.Model.from_bytes(small_bytes) as m:
        with pytest.raises(TypeError):
            m.session(threads=1.5)
        with pytest.raises(ValueError):
            m.session(threads=2**40)


def test_wrong_input_name(session):
    err = expect_error("SWL_STATUS_NOT_FOUND", session.run,
                       {"not_x": np.ones((2, 4), np.float32)})
    assert "not_x" in err.message
    _still_works(session)


def test_extra_input_name(session):
    """Two inputs for a one-input graph: "exactly one per graph input" is broken first."""
    x = np.ones((2, 4), np.float32)
    expect_error("SWL_STATUS_INVALID_ARGUMENT", session.run, {"x": x, "extra": x})
    _still_works(session)


def test_missing_input(session):
    expect_error("SWL_STATUS_INVALID_ARGUMENT", session.run, {})
    _still_works(session)


@pytest.mark.parametrize("shape", [(2, 5), (2, 3), (4,), (1, 2, 4), (), (2, 4, 1)],
                         ids=["wrong-dim", "wrong-dim-small", "rank1", "rank3", "scalar",
                              "trailing-1"])
def test_wrong_shape(session, shape):
    expect_error("SWL_STATUS_INVALID_ARGUMENT", session.run, {"x": np.ones(shape, np.float32)})
    _still_works(session)


def test_too_many_positional_inputs(session):
    x = np.ones((2, 4), np.float32)
    expect_error("SWL_STATUS_INVALID_ARGUMENT", session.run, [x, x])
    _still_works(session)


def test_uncastable_dtype_is_type_error(session):
    for bad in (np.ones((2, 4), np.complex64), np.array([["a"] * 4] * 2)):
        with pytest.raises(TypeError, match="'x'"):
            session.run({"x": bad})
    with pytest.raises(TypeError):
        session.run({"x": object()})
    _still_works(session)


def _gather_model(idx_dtype):
    data = np.arange(15, dtype=np.float32).reshape(5, 3)
    return model_bytes([swl.node("Gather", ["data", "idx"], ["y"])],
                       {"idx": (idx_dtype, ("n",))}, {"y": (np.float32, ("n", 3))},
                       {"data": data}), data


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_indices_are_type_error(backend):
    data, _ = _gather_model(np.int64)
    with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
        with pytest.raises(TypeError, match="'idx'"):
            s.run({"idx": np.array([0.0, 1.0])})
        # int32 → int64 is a same-kind cast, accepted
        assert_exact(s.run({"idx": np.array([1, 0], np.int32)})["y"],
                     np.array([[3, 4, 5], [0, 1, 2]], np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("idx_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("bad", [5, -6, 2**31 - 1, -2**31])
def test_gather_index_out_of_range(backend, idx_dtype, bad):
    data, table = _gather_model(idx_dtype)
    with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
        err = expect_error("SWL_STATUS_INVALID_ARGUMENT", s.run,
                           {"idx": np.array([0, bad, 1], idx_dtype)})
        assert err.message
        got = s.run({"idx": np.array([4, -5], idx_dtype)})["y"]
        assert_exact(got, table[[4, 0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_gather_index_out_of_range_int64_huge(backend):
    data, _ = _gather_model(np.int64)
    with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
        for bad in (2**62, -2**63, 2**32 + 1):
            expect_error("SWL_STATUS_INVALID_ARGUMENT", s.run,
                         {"idx": np.array([bad], np.int64)})


@pytest.mark.parametrize("backend", BACKENDS)
def test_inconsistent_dynamic_dims(backend, rng):
    data = model_bytes([swl.node("Add", ["a", "b"], ["y"])],
                       {"a": (np.float32, ("n", 3)), "b": (np.float32, ("n", 3))},
                       {"y": (np.float32, ("n", 3))})
    with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
        expect_error("SWL_STATUS_INVALID_ARGUMENT", s.run,
                     {"a": randn(rng, 2, 3), "b": randn(rng, 3, 3)})
        a, b = randn(rng, 2, 3), randn(rng, 2, 3)
        assert_close(s.run({"a": a, "b": b})["y"], a.astype(np.float64) + b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_activation_shape_mismatch_names_the_node(backend, rng):
    """Shapes of activations are checked when a run's input shapes are first seen."""
    data = model_bytes([swl.node("MatMul", ["a", "b"], ["y"], name="the_matmul")],
                       {"a": (np.float32, ("m", "k")), "b": (np.float32, ("k2", 3))},
                       {"y": (np.float32, ("m", 3))})
    with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
        err = expect_error("SWL_STATUS_INVALID_ARGUMENT", s.run,
                           {"a": randn(rng, 2, 4), "b": randn(rng, 5, 3)})
        assert "the_matmul" in err.message
        a, b = randn(rng, 2, 4), randn(rng, 4, 3)
        assert s.run({"a": a, "b": b})["y"].shape == (2, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reshape_impossible_at_run_time(backend):
    data = model_bytes([swl.node("Reshape", ["x"], ["y"], shape=[2, 6])],
                       {"x": (np.float32, ("n", 4))}, {"y": (np.float32, (2, 6))})
    with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
        expect_error("SWL_STATUS_INVALID_ARGUMENT", s.run, {"x": np.ones((5, 4), np.float32)})
        assert s.run({"x": np.ones((3, 4), np.float32)})["y"].shape == (2, 6)


def test_declared_output_shape_contradicted(backend):
    """A graph output declared [2, 5] that the graph computes as [2, 3]: rejected when the model
    is opened (INVALID_MODEL) or when the shapes are first seen (INVALID_ARGUMENT)."""
    data = model_bytes([swl.node("Relu", ["x"], ["y"])], {"x": (np.float32, (2, 3))},
                       {"y": (np.float32, (2, 5))})
    with pytest.raises(swiftlet.SwiftletError) as e:
        with swiftlet.Model.from_bytes(data) as m, m.session(backend) as s:
            s.run({"x": np.ones((2, 3), np.float32)})
    assert e.value.status_name in ("SWL_STATUS_INVALID_MODEL", "SWL_STATUS_INVALID_ARGUMENT")
    assert e.value.message


def test_closed_session_and_model(small_bytes):
    m = swiftlet.Model.from_bytes(small_bytes)
    s = m.session()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.run({"x": np.ones((1, 4), np.float32)})
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.session()
    assert s.inputs[0].name == "x"   # descriptions stay readable (they are Python copies)
