"""Session.run's fast path (python/swiftlet/_run_plan.py): after two successive calls of one form,
the next calls of that form reuse C structs made for it. These tests check that it engages where it
should (and only there), that it gives what the general path gives (against numpy), and that every
other form still takes the general path with its conversions and errors."""
from __future__ import annotations

import contextlib
import ctypes
import threading

import numpy as np
import pytest

import swiftlet
from swiftlet import _session, swl
from conftest import (BACKENDS, assert_close, assert_exact, model_bytes, small_expected,
                      small_model)


def assert_near(got: np.ndarray, expected: np.ndarray) -> None:
    """Within float32 rounding of a 4-term sum: 1e-5 of the largest output (a value near 0 from
    cancellation would fail a purely relative bound)."""
    assert_close(got, expected, atol=1e-5 * np.abs(expected).max())


@contextlib.contextmanager
def planned(rng, batch: int):
    """A session of the small model that has a plan for {"x": float32 [batch, 4]}, and such an x."""
    with swiftlet.Model.from_bytes(small_model()) as m, m.session() as s:
        x = rng.standard_normal((batch, 4)).astype(np.float32)
        s.run({"x": x})
        s.run({"x": x})   # the second call of a form makes its plan
        yield s, x


@pytest.fixture
def general_calls(monkeypatch):
    """Counts the calls that take the general path (each prepares its inputs field by field)."""
    calls = []
    prepare = _session.Session._prepare_inputs

    def counted(self, inputs):
        calls.append(inputs)
        return prepare(self, inputs)
    monkeypatch.setattr(_session.Session, "_prepare_inputs", counted)
    return calls


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_calls_take_the_plan_and_return_fresh_arrays(backend, rng, general_calls):
    with swiftlet.Model.from_bytes(small_model()) as m, m.session(backend) as s:
        xs = [rng.standard_normal((5, 4)).astype(np.float32) for _ in range(4)]
        outs = [s.run({"x": x}) for x in xs]
        assert len(general_calls) == 2   # the first two went the general way, the second made a plan
        for x, out in zip(xs, outs):     # each result its own array, none overwritten later
            expected = small_expected(x)
            assert list(out) == ["y", "r"]
            assert_near(out["y"], expected["y"])
            assert_near(out["r"], expected["r"])
            assert out["y"].shape == (5, 3) and out["y"].dtype == np.float32


def test_positional_and_single_array_calls_share_a_plan(rng, general_calls):
    with swiftlet.Model.from_bytes(small_model()) as m, m.session() as s:
        x = rng.standard_normal((2, 4)).astype(np.float32)
        for form in ([x], (x,), x, [x]):
            assert_near(s.run(form)["y"], small_expected(x)["y"])
        assert len(general_calls) == 2
        assert_near(s.run({"x": x})["y"], small_expected(x)["y"])   # a dict: another form
        assert len(general_calls) == 3


def test_reports_come_from_the_plan_too(rng, general_calls):
    with planned(rng, 3) as (s, x):
        out, report = s.run({"x": x}, report=True)
        assert report.node_count >= 1 and report.flops > 0
        assert s.last_report == report
        assert_near(out["r"], small_expected(x)["r"])
        assert len(general_calls) == 2


@pytest.mark.parametrize("change", ["batch", "float64", "strided", "subclass", "outputs",
                                    "outputs-str"])
def test_another_form_takes_the_general_path(rng, general_calls, change):
    with planned(rng, 4) as (s, x):
        wanted = None
        if change == "batch":
            x = rng.standard_normal((7, 4)).astype(np.float32)
        elif change == "float64":
            x = x.astype(np.float64)            # converted by the general path
        elif change == "strided":
            x = rng.standard_normal((4, 8)).astype(np.float32)[:, ::2]
        elif change == "subclass":
            x = x.view(np.matrix)
        elif change == "outputs":
            wanted = ["r"]
        else:
            wanted = "r"
        out = s.run({"x": x}, outputs=wanted)
        assert len(general_calls) == 3
        expected = small_expected(np.asarray(x, np.float32))
        if wanted is None:
            assert_near(out["y"], expected["y"])
        else:
            assert list(out) == ["r"]
            assert_near(out["r"], expected["r"])
        # twice more: a form passed as given gets a plan, one needing conversion never does
        for _ in range(2):
            assert_near(s.run({"x": x}, outputs=wanted)["r"], expected["r"])
        assert len(general_calls) == (4 if change in ("batch", "outputs", "outputs-str") else 5)


def test_shapes_that_change_every_call_build_no_plan(rng, monkeypatch):
    """A plan costs a third of a general call to build; a caller alternating shapes must not pay it."""
    built = []
    plan_for = _session.Session._plan_for

    def counted(self, *args):
        built.append(args)
        return plan_for(self, *args)
    monkeypatch.setattr(_session.Session, "_plan_for", counted)
    with swiftlet.Model.from_bytes(small_model()) as m, m.session() as s:
        for batch in (1, 2, 1, 2, 3):
            x = rng.standard_normal((batch, 4)).astype(np.float32)
            assert_near(s.run({"x": x})["y"], small_expected(x)["y"])
        assert not built
        s.run({"x": x})
        assert len(built) == 1


def test_wrong_names_and_counts_still_fail(rng, general_calls):
    with planned(rng, 2) as (s, x):
        with pytest.raises(swiftlet.SwiftletError, match="2 given"):
            s.run({"x": x, "extra": x})
        with pytest.raises(swiftlet.SwiftletError):
            s.run({})
        with pytest.raises(swiftlet.SwiftletError, match="NOT_FOUND"):
            s.run({"X": x})
        with pytest.raises(KeyError):
            s.run({"x": x}, outputs=["nope"])
        assert_near(s.run({"x": x})["y"], small_expected(x)["y"])


def test_a_bad_value_in_the_planned_form_is_still_an_error(general_calls):
    """The plan skips Python's checks, not the library's: a Gather index out of range in a call of
    the planned form raises, and the next good call still runs."""
    table = np.arange(15, dtype=np.float32).reshape(5, 3)
    data = model_bytes([swl.node("Gather", ["data", "idx"], ["y"])],
                       {"idx": (np.int64, ("n",))}, {"y": (np.float32, ("n", 3))}, {"data": table})
    with swiftlet.Model.from_bytes(data) as m, m.session() as s:
        good = np.array([4, 0], np.int64)
        for _ in range(2):
            assert_exact(s.run({"idx": good})["y"], table[good])
        report = s.last_report
        with pytest.raises(swiftlet.SwiftletError, match="INVALID_ARGUMENT"):
            s.run({"idx": np.array([1, 5], np.int64)})
        assert s.last_report == report   # a failed run reports nothing
        assert_exact(s.run({"idx": good[::-1].copy()})["y"], table[good[::-1]])
        assert len(general_calls) == 2   # the bad call and the one after it took the plan


def test_a_closed_session_refuses_the_planned_form(rng):
    with planned(rng, 2) as (s, x):
        s.close()
        with pytest.raises(ValueError, match="closed"):
            s.run({"x": x})


def test_non_str_keys_make_no_plan(rng, general_calls):
    """The general path looks a dict's keys up as str(key); a plan, by equality. So only str keys
    make a plan: {1: x} must not let {True: x} run where a fresh session would refuse it."""
    data = model_bytes([swl.node("Relu", ["1"], ["y"])], {"1": (np.float32, (2,))}, {"y": (np.float32, (2,))})
    with swiftlet.Model.from_bytes(data) as m, m.session() as s:
        x = np.array([-1.0, 2.0], np.float32)
        for _ in range(3):
            assert_exact(s.run({1: x})["y"], np.maximum(x, 0))
        assert len(general_calls) == 3
        with pytest.raises(swiftlet.SwiftletError, match="NOT_FOUND"):
            s.run({True: x})


def test_threads_share_and_replace_the_plan(rng, general_calls):
    """Eight threads on one session, half of them with another batch size: the plan is made and
    replaced while others run on it."""
    with planned(rng, 6) as (s, x):
        xs = [x] + [rng.standard_normal((6 if i % 2 else 5, 4)).astype(np.float32) for i in range(7)]
        failures = []

        def work(x):
            for _ in range(50):
                got = s.run({"x": x})
                if not np.allclose(got["y"], small_expected(x)["y"], rtol=1e-5, atol=1e-5):
                    failures.append(x)
        threads = [threading.Thread(target=work, args=(x,)) for x in xs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures
        assert len(general_calls) < 8 * 50   # some calls took a plan


def _difference_model() -> bytes:
    """d = a − b over float32 [2, 3]: two inputs of one shape, which a swapped binding would show."""
    return model_bytes([swl.node("Sub", ["a", "b"], ["d"])],
                       {"a": (np.float32, (2, 3)), "b": (np.float32, (2, 3))}, {"d": (np.float32, (2, 3))})


@pytest.mark.parametrize("form", ["dict", "reordered-dict", "list"])
def test_two_inputs_of_one_shape_stay_bound_to_their_names(rng, general_calls, form):
    with swiftlet.Model.from_bytes(_difference_model()) as m, m.session() as s:
        def call(a, b):
            return s.run([a, b] if form == "list" else {"a": a, "b": b})["d"]
        a, b = rng.standard_normal((2, 2, 3)).astype(np.float32)
        call(a, b)
        call(a, b)
        for _ in range(3):
            a, b = rng.standard_normal((2, 2, 3)).astype(np.float32)
            got = s.run({"b": b, "a": a})["d"] if form == "reordered-dict" else call(a, b)
            assert_exact(got, a - b)
        # a plan finds a dict's inputs by name: the reordered dicts took it too
        assert len(general_calls) == 2


def test_another_byte_order_is_converted_not_misread(rng, general_calls):
    with planned(rng, 3) as (s, x):
        swapped = x.astype(">f4")
        assert_near(s.run({"x": swapped})["y"], small_expected(x)["y"])
        assert len(general_calls) == 3


def test_requested_outputs_keep_their_order_and_alternating_forms_build_no_plan(rng, monkeypatch):
    built = []
    plan_for = _session.Session._plan_for
    monkeypatch.setattr(_session.Session, "_plan_for", lambda self, *a: built.append(a) or plan_for(self, *a))
    with swiftlet.Model.from_bytes(small_model()) as m, m.session() as s:
        x = rng.standard_normal((3, 4)).astype(np.float32)
        expected = small_expected(x)
        for _ in range(3):   # None and ["y", "r"] ask for the same outputs, in two forms
            assert list(s.run({"x": x})) == ["y", "r"]
            assert list(s.run({"x": x}, outputs=["y", "r"])) == ["y", "r"]
        assert not built
        for _ in range(3):
            out = s.run({"x": x}, outputs=["r", "y"])
            assert list(out) == ["r", "y"]
            assert_near(out["r"], expected["r"])
            assert_near(out["y"], expected["y"])
        assert len(built) == 1
        assert s.run({"x": x}, outputs=[]) == {}


def test_empty_outputs_get_no_plan(general_calls):
    with swiftlet.Model.from_bytes(small_model()) as m, m.session() as s:
        for _ in range(3):
            out = s.run({"x": np.zeros((0, 4), np.float32)})
            assert out["y"].shape == (0, 3)
        assert len(general_calls) == 3


class _Sabotaged:
    """The library, with the fast path's swl_session_run (by address) breaking a plan's premise
    once when `mode` is set: 'shape' writes a wrong shape into the first output after a real run,
    'too-small' writes another shape and answers BUFFER_TOO_SMALL without running."""

    def __init__(self, real):
        self.real, self.mode = real, None

    def __getattr__(self, name):
        return getattr(self.real, name)

    def session_run_by_address(self, handle, inputs, n_inputs, outputs, n_outputs, report):
        mode, self.mode = self.mode, None
        first = ctypes.cast(outputs, ctypes.POINTER(swiftlet._capi.Tensor))[0]
        if mode == "too-small":
            first.shape[0] = 50
            return swiftlet._capi.STATUS_BUFFER_TOO_SMALL
        status = self.real.session_run_by_address(handle, inputs, n_inputs, outputs, n_outputs, report)
        if mode == "shape":
            first.shape[0] = 99
        return status


@pytest.mark.parametrize("mode", ["shape", "too-small"])
def test_a_library_that_breaks_the_plan_loses_it(rng, general_calls, monkeypatch, mode):
    sabotaged = _Sabotaged(swiftlet._capi.lib())
    monkeypatch.setattr(swiftlet._capi, "lib", lambda: sabotaged)
    with planned(rng, 3) as (s, x):
        calls, plan = len(general_calls), s._plan
        sabotaged.mode = mode
        if mode == "shape":
            with pytest.raises(RuntimeError, match="shape"):
                s.run({"x": x})
            assert_near(s.run({"x": x})["y"], small_expected(x)["y"])
        else:   # the library ran nothing: the same call goes on to the general path, which runs
            assert_near(s.run({"x": x})["y"], small_expected(x)["y"])
        assert len(general_calls) == calls + 1   # the plan was dropped: the general path once more
        # and its own structs hold its shapes again, for a thread still calling through it
        assert plan._own.output_fields[0].shape[0] == 3


def test_a_call_finding_the_plans_structs_taken_uses_copies(rng, general_calls):
    """While one call holds the plan's own structs (another thread's, here the test's), a call of
    the same form fills fresh copies: same answers, and the plan's structs untouched."""
    with planned(rng, 3) as (s, x):
        plan = s._plan
        own_inputs = bytes(plan._own.inputs)
        with plan._own_free:
            for _ in range(2):
                x = rng.standard_normal((3, 4)).astype(np.float32)
                out, report = s.run({"x": x}, report=True)
                assert_near(out["y"], small_expected(x)["y"])
                assert report.node_count >= 1
        assert bytes(plan._own.inputs) == own_inputs
        assert len(general_calls) == 2 and s._plan is plan


def test_read_only_inputs_take_the_plan(rng, general_calls):
    """An input numpy marks read-only still takes the plan: its address comes from numpy."""
    with planned(rng, 2) as (s, x):
        frozen = x.copy()
        frozen.flags.writeable = False
        assert_near(s.run({"x": frozen})["y"], small_expected(x)["y"])
        assert len(general_calls) == 2
