"""Session.run's fast path (python/swiftlet/_run_plan.py): after two successive calls of one form,
the next calls of that form reuse C structs made for it. These tests check that it engages where it
should (and only there), that it gives what the general path gives (against numpy), and that every
other form still takes the general path with its conversions and errors."""
from __future__ import annotations

import contextlib
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
        with pytest.raises(swiftlet.SwiftletError, match="INVALID_ARGUMENT"):
            s.run({"idx": np.array([1, 5], np.int64)})
        assert_exact(s.run({"idx": good[::-1].copy()})["y"], table[good[::-1]])
        assert len(general_calls) == 2   # the bad call and the one after it took the plan


def test_a_closed_session_refuses_the_planned_form(rng):
    with planned(rng, 2) as (s, x):
        s.close()
        with pytest.raises(ValueError, match="closed"):
            s.run({"x": x})


def test_threads_share_the_plan(rng, general_calls):
    with planned(rng, 6) as (s, x):
        xs = [x] + [rng.standard_normal((6, 4)).astype(np.float32) for _ in range(7)]
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
        assert len(general_calls) == 2
