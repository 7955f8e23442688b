"""One session shared by 8 Python threads (ctypes drops the GIL during swl_session_run): every
result is bitwise equal to the single-threaded result for the same batch."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import swiftlet
from conftest import BACKENDS, MODELS, model_bytes, randn
from swiftlet import swl

N_THREADS = 8
ROUNDS = 25


def conv_model(rng):
    nodes = [swl.node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1]),
             swl.node("Relu", ["c"], ["r"]),
             swl.node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             swl.node("Flatten", ["p"], ["f"]),
             swl.node("Gemm", ["f", "Wf", "bf"], ["y"], transB=1),
             swl.node("Softmax", ["y"], ["prob"])]
    consts = {"W": randn(rng, 8, 3, 3, 3), "b": randn(rng, 8),
              "Wf": randn(rng, 10, 8 * 4 * 4), "bf": randn(rng, 10)}
    return model_bytes(nodes, {"x": (np.float32, ("n", 3, 8, 8))},
                       {"y": (np.float32, ("n", 10)), "prob": (np.float32, ("n", 10))}, consts)


def hammer(session, batches, expected):
    errors = []
    start = threading.Barrier(N_THREADS)

    def worker(t):
        try:
            start.wait()
            for r in range(ROUNDS):
                k = (t + r) % len(batches)    # threads run different batches at the same time
                out = session.run(batches[k])
                for name, value in expected[k].items():
                    if out[name].shape != value.shape or \
                            out[name].tobytes() != value.tobytes():
                        errors.append(f"thread {t} round {r} batch {k} output {name} differs")
                        return
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"thread {t}: {e!r}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a run hung"
    assert not errors, errors[:5]


@pytest.mark.parametrize("threads", [1, 0], ids=["threads1", "threads-auto"])
def test_shared_session_conv(backend, rng, threads):
    data = conv_model(rng)
    batches = [{"x": randn(rng, n, 3, 8, 8)} for n in (1, 2, 3, 5, 8, 13, 16, 33)]
    with swiftlet.Model.from_bytes(data) as m, m.session(backend, threads=threads) as s:
        expected = [s.run(b) for b in batches]
        hammer(s, batches, expected)


def test_shared_session_digits(backend, rng):
    path = MODELS / "digits_mlp.swl"
    if not path.exists():
        pytest.fail(f"{path} is missing")
    with swiftlet.Model(path) as m, m.session(backend) as s:
        name = s.inputs[0].name
        batches = [{name: rng.random((n, 64), dtype=np.float32) * 16}
                   for n in (1, 4, 7, 16, 31, 64, 100, 2)]
        expected = [s.run(b) for b in batches]
        hammer(s, batches, expected)


def test_sessions_on_threads_and_close_waits(rng):
    """Closing a session waits for runs in flight on other threads (no use after free)."""
    data = conv_model(rng)
    x = {"x": randn(rng, 16, 3, 8, 8)}
    with swiftlet.Model.from_bytes(data) as m:
        s = m.session("cpu")
        started = threading.Event()
        results = []

        def worker():
            started.set()
            try:
                for _ in range(20):
                    results.append(s.run(x)["y"].shape)
            except ValueError:
                results.append("closed")

        t = threading.Thread(target=worker)
        t.start()
        started.wait()
        s.close()
        t.join(timeout=120)
        assert not t.is_alive()
        assert all(r in ((16, 10), "closed") for r in results)


def test_a_forked_child_runs_split_kernels(rng):
    """The kernels' worker threads do not survive fork(): a child that runs a 2-thread session
    the parent already ran must start its own workers, not wait forever for the parent's."""
    import os
    import signal
    import time

    x = randn(rng, 2, 32, 20, 20)
    data = model_bytes([swl.node("Conv", ["x", "W"], ["y"])], {"x": x}, {"y": (np.float32, (2, 48, 20, 20))},
                       {"W": randn(rng, 48, 32, 1, 1)})
    with swiftlet.Model.from_bytes(data) as model, model.session(threads=2) as session:
        expected = session.run({"x": x})["y"]
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only if the run finishes and agrees
            try:
                os._exit(0 if np.array_equal(session.run({"x": x})["y"], expected) else 1)
            except BaseException:
                os._exit(2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung in its first split kernel")
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
