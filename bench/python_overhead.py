"""What Session.run costs in Python, around the library's own call.

    make stage && .venv/bin/python bench/python_overhead.py [--model models/digits_mlp.swl] [--threads 1]

Three medians, alternating within one loop so the machine's drift hits them alike:
- `swl_session_run` called bare through ctypes with structs built once;
- `Session.run` taking its fast path (a call in the form of the last one: _run_plan.py);
- `Session.run` taking the general path, on a second session of the model whose plan and last
  form are dropped before each call.
Then the Python alone: 10,000 calls of each path with the library call replaced by a stub.
The model's inputs are random arrays of its declared shapes (dynamic dims: 1).
"""
from __future__ import annotations

import argparse
import ctypes
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "python"))
import swiftlet  # noqa: E402
from swiftlet import _capi  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/digits_mlp.swl")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    real = _capi.lib()
    with swiftlet.Model(args.model) as model, model.session(threads=args.threads) as session, \
            model.session(threads=args.threads) as other:
        feed = {info.name: rng.standard_normal([d or 1 for d in info.shape]).astype(info.dtype)
                for info in session.inputs}
        session.run(feed)
        session.run(feed)  # the second call of a form makes its plan
        in_tensors, keep_alive, _, _ = session._prepare_inputs(feed)
        wanted = list(range(len(session.outputs)))
        shapes = tuple(tuple(d or 1 for d in info.shape) for info in session.outputs)
        out_buffers, out_tensors, _ = session._prepare_outputs(wanted, shapes)  # kept alive: written

        def bare():
            report = _capi.RunReport(struct_size=ctypes.sizeof(_capi.RunReport))
            real.swl_session_run(session._handle, in_tensors, len(keep_alive), out_tensors, len(wanted),
                                 ctypes.byref(report))

        def fast():
            session.run(feed)

        def general():  # on a second session, as a call in a new form: no plan taken or made
            other._plan = other._last_form = None
            other.run(feed)

        ways = {"bare swl_session_run": bare, "run(), fast path": fast, "run(), general path": general}
        times = {name: [] for name in ways}
        for _ in range(args.runs):
            for name, way in ways.items():
                start = time.perf_counter()
                way()
                times[name].append(time.perf_counter() - start)
        print(f"{args.model}, {args.threads} thread(s), median of {args.runs} alternating calls:")
        for name, values in times.items():
            print(f"  {name:22s} {np.median(values) * 1e6:9.1f} µs")

        class Stub:  # the library with swl_session_run doing nothing
            def __getattr__(self, name):
                return getattr(real, name)

            @staticmethod
            def swl_session_run(*_):
                return _capi.STATUS_OK

            session_run_by_address = swl_session_run  # the fast path's declaration of it

        stub = Stub()
        _capi.lib = lambda: stub
        print("Python alone (library call stubbed), mean of 10,000 calls:")
        for name in ("run(), fast path", "run(), general path"):
            session.run(feed)
            start = time.perf_counter()
            for _ in range(10_000):
                ways[name]()
            print(f"  {name:22s} {(time.perf_counter() - start) * 100:9.1f} µs")


if __name__ == "__main__":
    main()
