"""The Python API (swiftlet.Model/Session) and, through swiftlet._capi, the C contract of
include/swiftlet.h: statuses, out-parameters, BUFFER_TOO_SMALL, report sizes, thread-local errors."""
from __future__ import annotations

import ctypes
import gc
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import swiftlet
from swiftlet import _capi
from conftest import (BACKENDS, DATA, MODELS, REPO, assert_close, require_file, small_expected)


# ---- library -------------------------------------------------------------------------------------
def test_version_and_abi():
    assert re.fullmatch(r"\d+\.\d+\.\d+", swiftlet.version())
    assert swiftlet.abi_version() == 1


def test_backends():
    names = swiftlet.backends()
    assert len(names) == len(set(names))
    for name in BACKENDS:
        assert name in names


def test_status_names():
    lib = _capi.lib()
    for value, name in [(0, "OK"), (1, "INVALID_ARGUMENT"), (2, "NOT_FOUND"),
                        (3, "INVALID_MODEL"), (4, "BUFFER_TOO_SMALL"), (5, "UNSUPPORTED"),
                        (6, "BACKEND_FAILURE"), (99, "INTERNAL")]:
        assert lib.swl_status_name(value) == f"SWL_STATUS_{name}".encode()
    for unknown in (7, 98, 100, -1, 12345):
        assert lib.swl_status_name(unknown) == b"SWL_STATUS_UNKNOWN"


def test_backend_name_out_of_range():
    lib = _capi.lib()
    assert lib.swl_backend_name(-1) is None
    assert lib.swl_backend_name(lib.swl_backend_count()) is None


def test_last_error_is_per_thread():
    with pytest.raises(swiftlet.SwiftletError):
        swiftlet.Model("/nonexistent/x.swl")
    assert _capi.last_error() != ""
    seen = []
    t = threading.Thread(target=lambda: seen.append(_capi.last_error()))
    t.start()
    t.join()
    assert seen == [""], "a thread that never failed must see an empty swl_last_error()"


def test_log_callback_roundtrip(small_bytes):
    messages = []
    swiftlet.set_log_callback(lambda level, msg: messages.append((level, msg)), "debug")
    try:
        with swiftlet.Model.from_bytes(small_bytes) as m, m.session("reference") as s:
            s.run({"x": np.zeros((1, 4), np.float32)})
    finally:
        swiftlet.set_log_callback(None)
    assert all(isinstance(level, str) and isinstance(msg, str) for level, msg in messages)


# ---- Model and Session ---------------------------------------------------------------------------
def test_readme_snippet(monkeypatch):
    require_file(MODELS / "digits_mlp.swl")
    require_file(DATA / "digits_test_x.npy")
    monkeypatch.chdir(REPO)
    with swiftlet.Model("models/digits_mlp.swl") as m, m.session(backend="cpu", threads=1) as s:
        logits = s.run({"input": np.load("data/digits_test_x.npy")})["logits"]
    assert logits.ndim == 2 and logits.shape[1] == 10


def test_missing_file():
    with pytest.raises(swiftlet.SwiftletError) as e:
        swiftlet.Model("/nonexistent/dir/model.swl")
    assert e.value.status == swiftlet.STATUS_NOT_FOUND
    assert e.value.status_name == "SWL_STATUS_NOT_FOUND"
    assert e.value.message
    assert "SWL_STATUS_NOT_FOUND" in str(e.value)


def test_model_from_path_like_and_buffers(small_path, small_bytes):
    x = np.ones((2, 4), np.float32)
    for model in (swiftlet.Model(small_path), swiftlet.Model(str(small_path)),
                  swiftlet.Model.from_bytes(small_bytes),
                  swiftlet.Model.from_bytes(bytearray(small_bytes)),
                  swiftlet.Model.from_bytes(memoryview(small_bytes))):
        with model, model.session("reference") as s:
            assert_close(s.run({"x": x})["y"], small_expected(x)["y"])


def test_io_info(small_bytes):
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session() as s:
        assert s.inputs == [swiftlet.TensorInfo("x", np.dtype(np.float32), (None, 4))]
        assert [o.name for o in s.outputs] == ["y", "r"]
        assert all(o.dtype == np.float32 and o.shape == (None, 3) for o in s.outputs)
        assert not s.inputs[0].is_static


def test_io_info_static_byte_size(tmp_path):
    from conftest import model_bytes
    from swiftlet import swl
    data = model_bytes([swl.node("Relu", ["x"], ["y"])], {"x": (np.float32, (2, 3))},
                       {"y": (np.float32, (2, 3))})
    lib = _capi.lib()
    with swiftlet.Model.from_bytes(data) as m, m.session() as s:
        t = _capi.Tensor()
        assert lib.swl_session_io_info(s._handle, 0, 0, ctypes.byref(t)) == 0
        assert (t.name, t.dtype, t.rank, list(t.shape[:2]), t.data, t.byte_size) == \
            (b"x", _capi.DTYPE_F32, 2, [2, 3], None, 24)
        for bad in (1, -1, 1000):
            assert lib.swl_session_io_info(s._handle, 0, bad, ctypes.byref(t)) == \
                _capi.STATUS_NOT_FOUND
            assert lib.swl_session_io_info(s._handle, 1, bad, ctypes.byref(t)) == \
                _capi.STATUS_NOT_FOUND


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_forms(backend, small_bytes):
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    exp = small_expected(x)
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session(backend) as s:
        for out in (s.run({"x": x}), s.run([x]), s.run((x,)), s.run(x),
                    s.run({"x": x.astype(np.float64)}),             # same_kind cast
                    s.run({"x": np.asfortranarray(x)}),              # not C-contiguous
                    s.run({"x": np.repeat(x, 2, axis=1)[:, ::2]}),   # strided view
                    s.run({"x": x.tolist()})):                       # nested lists
            assert list(out) == ["y", "r"]
            assert_close(out["y"], exp["y"])
            assert_close(out["r"], exp["r"])
        only_r = s.run({"x": x}, outputs=["r"])
        assert list(only_r) == ["r"]
        assert_close(only_r["r"], exp["r"])
        with pytest.raises(KeyError):
            s.run({"x": x}, outputs=["nope"])


def test_dynamic_batches_and_shape_cache(small_bytes):
    rng = np.random.default_rng(2)
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session("cpu") as s:
        previous = None
        for batch in (1, 8, 3, 8, 300, 1, 1):
            x = rng.standard_normal((batch, 4)).astype(np.float32)
            out = s.run({"x": x})
            assert out["y"].shape == (batch, 3)
            assert_close(out["y"], small_expected(x)["y"])
            if previous is not None:   # results are fresh arrays, never overwritten later
                assert_close(previous[1]["y"], small_expected(previous[0])["y"])
            previous = (x, out)


def test_report(small_bytes):
    x = np.ones((4, 4), np.float32)
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session("cpu") as s:
        assert s.last_report is None
        out, report = s.run({"x": x}, report=True)
        assert isinstance(report, swiftlet.RunReport)
        assert s.last_report == report
        assert report.node_count >= 1 and report.flops > 0 and report.wall_time_ms >= 0
        assert report.fallback_node_count == 0
        assert report.sim_cycles == 0 and report.sim_energy_mj == 0


def test_close_and_context_managers(small_bytes):
    x = np.ones((1, 4), np.float32)
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session() as s:
        s.run({"x": x})
    assert m.closed and s.closed
    with pytest.raises(ValueError):
        s.run({"x": x})
    with pytest.raises(ValueError):
        m.session()
    with pytest.raises(ValueError):
        with s:
            pass
    m.close()
    s.close()   # closing twice is fine
    assert "closed" in repr(m) and "closed" in repr(s)


def test_session_outlives_model(small_bytes):
    x = np.ones((2, 4), np.float32)
    m = swiftlet.Model.from_bytes(small_bytes)
    s = m.session("reference")
    m.close()
    del m
    gc.collect()
    assert_close(s.run({"x": x})["y"], small_expected(x)["y"])
    s.close()


def test_garbage_collection_frees(small_bytes):
    for _ in range(200):
        m = swiftlet.Model.from_bytes(small_bytes)
        s = m.session("reference")
        s.run({"x": np.ones((1, 4), np.float32)})
        del s, m
    gc.collect()


def test_options(small_bytes):
    x = np.ones((2, 4), np.float32)
    with swiftlet.Model.from_bytes(small_bytes) as m:
        for kwargs in ({"optimize": False}, {"optimize": True},
                       {"options": {"graph.optimize": "0"}}, {"options": {"graph.optimize": 1}},
                       {"options": {"threads": 2}}, {"options": {"backend": "reference"}},
                       {"backend": None}, {"threads": 3}):
            with m.session(**kwargs) as s:
                assert_close(s.run({"x": x})["y"], small_expected(x)["y"])


# ---- the C contract, called directly -----------------------------------------------------------
def _ptr(handle):
    return ctypes.c_void_p(handle)


def test_null_arguments(small_bytes):
    lib = _capi.lib()
    out = ctypes.c_void_p(0x1234)
    assert lib.swl_model_load_file(None, ctypes.byref(out)) == _capi.STATUS_INVALID_ARGUMENT
    assert out.value is None, "out_model must be set to NULL on failure"
    assert _capi.last_error()
    assert lib.swl_model_load_file(b"/nonexistent.swl", None) == _capi.STATUS_INVALID_ARGUMENT
    out = ctypes.c_void_p(0x1234)
    assert lib.swl_model_load_memory(None, 0, ctypes.byref(out)) == _capi.STATUS_INVALID_MODEL
    assert out.value is None
    assert lib.swl_model_load_memory(small_bytes, len(small_bytes), None) == \
        _capi.STATUS_INVALID_ARGUMENT
    out = ctypes.c_void_p(0x1234)
    assert lib.swl_session_create(None, None, ctypes.byref(out)) == _capi.STATUS_INVALID_ARGUMENT
    assert out.value is None
    assert lib.swl_options_create(None) == _capi.STATUS_INVALID_ARGUMENT
    assert lib.swl_options_set_backend(None, b"cpu") == _capi.STATUS_INVALID_ARGUMENT
    assert lib.swl_options_set_threads(None, 1) == _capi.STATUS_INVALID_ARGUMENT
    assert lib.swl_options_set(None, b"threads", b"1") == _capi.STATUS_INVALID_ARGUMENT
    assert lib.swl_session_io_count(None, None, None) == _capi.STATUS_INVALID_ARGUMENT
    assert lib.swl_session_run(None, None, 0, None, 0, None) == _capi.STATUS_INVALID_ARGUMENT
    lib.swl_model_free(None)
    lib.swl_options_free(None)
    lib.swl_session_free(None)


def test_options_null_strings():
    lib = _capi.lib()
    opts = ctypes.c_void_p()
    assert lib.swl_options_create(ctypes.byref(opts)) == 0
    try:
        assert lib.swl_options_set_backend(opts, None) == _capi.STATUS_INVALID_ARGUMENT
        assert lib.swl_options_set(opts, None, b"1") == _capi.STATUS_INVALID_ARGUMENT
        assert lib.swl_options_set(opts, b"graph.optimize", None) == \
            _capi.STATUS_INVALID_ARGUMENT
        assert lib.swl_options_set(opts, b"threads", b"abc") == _capi.STATUS_INVALID_ARGUMENT
        assert lib.swl_options_set(opts, b"threads", b"-1") == _capi.STATUS_INVALID_ARGUMENT
        assert lib.swl_options_set(opts, b"backend", b"nope") == _capi.STATUS_NOT_FOUND
        assert lib.swl_options_set(opts, b"threads", b"2") == _capi.STATUS_OK
        assert lib.swl_options_set(opts, b"backend", b"reference") == _capi.STATUS_OK
    finally:
        lib.swl_options_free(opts)


def test_session_create_null_options_defaults(small_bytes):
    lib = _capi.lib()
    with swiftlet.Model.from_bytes(small_bytes) as m:
        s = ctypes.c_void_p()
        assert lib.swl_session_create(m._handle, None, ctypes.byref(s)) == 0
        n_in, n_out = ctypes.c_int32(), ctypes.c_int32()
        assert lib.swl_session_io_count(s, ctypes.byref(n_in), None) == 0
        assert lib.swl_session_io_count(s, None, ctypes.byref(n_out)) == 0
        assert (n_in.value, n_out.value) == (1, 2)
        lib.swl_session_free(s)


def _tensor(name, array=None, dtype=_capi.DTYPE_F32, shape=None, capacity=None):
    t = _capi.Tensor()
    t.name = name
    t.dtype = dtype
    shape = list(array.shape if shape is None else shape)
    t.rank = len(shape)
    for i, d in enumerate(shape):
        t.shape[i] = d
    if array is not None:
        t.data = array.ctypes.data
        t.byte_size = array.nbytes if capacity is None else capacity
    return t


def _run(session, inputs, outputs, report=None):
    lib = _capi.lib()
    ins = (_capi.Tensor * max(len(inputs), 1))(*inputs)
    outs = (_capi.Tensor * max(len(outputs), 1))(*outputs)
    status = lib.swl_session_run(session._handle, ins, len(inputs), outs, len(outputs),
                                 report)
    return status, outs


@pytest.fixture
def small_session(small_bytes):
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session("cpu") as s:
        yield s


def test_buffer_too_small_writes_shapes_only(small_session):
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    y = np.full(6, 7.0, np.float32)            # room for 2 rows, 5 are needed
    r = np.full(15, 7.0, np.float32)           # big enough
    status, outs = _run(small_session, [_tensor(b"x", x)],
                        [_tensor(b"y", y, shape=(2, 3)), _tensor(b"r", r, shape=(5, 3))])
    assert status == _capi.STATUS_BUFFER_TOO_SMALL
    assert _capi.last_error()
    for t in outs[:2]:
        assert t.rank == 2 and list(t.shape[:2]) == [5, 3]
    assert np.all(y == 7.0) and np.all(r == 7.0), "no output data may be written on failure"


def test_larger_capacity_is_fine(small_session):
    x = np.ones((2, 4), np.float32)
    y = np.full(100, 7.0, np.float32)
    status, outs = _run(small_session, [_tensor(b"x", x)], [_tensor(b"y", y, shape=(2, 3))])
    assert status == 0
    assert outs[0].rank == 2 and list(outs[0].shape[:2]) == [2, 3]
    assert_close(y[:6].reshape(2, 3), small_expected(x)["y"])


def test_no_outputs_requested(small_session):
    x = np.ones((2, 4), np.float32)
    status, _ = _run(small_session, [_tensor(b"x", x)], [])
    assert status == 0


def test_inputs_by_position(small_session):
    x = np.ones((2, 4), np.float32)
    y = np.zeros((2, 3), np.float32)
    status, _ = _run(small_session, [_tensor(None, x)], [_tensor(None, y)])
    assert status == 0
    assert_close(y, small_expected(x)["y"])


@pytest.mark.parametrize("case", ["byte_size", "null_data", "rank9", "rank-1", "dtype",
                                  "duplicate", "missing", "negative_dim", "out_dtype",
                                  "duplicate_output"])
def test_run_invalid_arguments(small_session, case):
    x = np.ones((2, 4), np.float32)
    y = np.zeros((2, 3), np.float32)
    xin = _tensor(b"x", x)
    yout = _tensor(b"y", y)
    inputs, outputs = [xin], [yout]
    if case == "byte_size":
        inputs = [_tensor(b"x", x, capacity=x.nbytes - 4)]
    elif case == "null_data":
        xin.data = None
    elif case == "rank9":
        xin.rank = 9
    elif case == "rank-1":
        xin.rank = -1
    elif case == "dtype":
        xin.dtype = _capi.DTYPE_I32
    elif case == "duplicate":
        inputs = [xin, _tensor(b"x", x)]
    elif case == "missing":
        inputs = []
    elif case == "negative_dim":
        xin.shape[0] = -2
    elif case == "out_dtype":
        yout.dtype = _capi.DTYPE_I64
    elif case == "duplicate_output":
        outputs = [yout, _tensor(b"y", np.zeros((2, 3), np.float32))]
    status, _ = _run(small_session, inputs, outputs)
    assert status == _capi.STATUS_INVALID_ARGUMENT, _capi.status_name(status)
    assert _capi.last_error()
    assert np.all(y == 0)


def test_run_unknown_output_name(small_session):
    x = np.ones((2, 4), np.float32)
    status, _ = _run(small_session, [_tensor(b"x", x)],
                     [_tensor(b"nope", np.zeros((2, 3), np.float32))])
    assert status == _capi.STATUS_NOT_FOUND


@pytest.mark.parametrize("size", [0, 4, 8, 12, 24, 63])
def test_report_struct_size_is_respected(small_session, size):
    """The library writes at most struct_size bytes of the report (older, shorter structs)."""
    x = np.ones((2, 4), np.float32)
    buf = (ctypes.c_uint8 * 128)(*([0xAB] * 128))
    ctypes.c_uint32.from_buffer(buf).value = size
    status, _ = _run(small_session, [_tensor(b"x", x)], [],
                     ctypes.cast(buf, ctypes.POINTER(_capi.RunReport)))
    if size < 4:
        # too small to even hold struct_size: rejecting it is allowed, writing past it is not
        assert status in (_capi.STATUS_OK, _capi.STATUS_INVALID_ARGUMENT)
    else:
        assert status == _capi.STATUS_OK
    assert ctypes.c_uint32.from_buffer(buf).value == size, "struct_size must not be changed"
    assert bytes(buf[max(size, 4):]) == b"\xab" * (128 - max(size, 4)), \
        f"the library wrote past struct_size={size}"


def test_report_full_struct(small_session):
    x = np.ones((3, 4), np.float32)
    report = _capi.RunReport(struct_size=ctypes.sizeof(_capi.RunReport))
    status, _ = _run(small_session, [_tensor(b"x", x)], [], ctypes.byref(report))
    assert status == 0
    assert report.struct_size == ctypes.sizeof(_capi.RunReport)
    assert report.node_count >= 1 and report.flops >= 2 * 3 * 4 * 3


def test_wrong_handle_kind_is_detected(small_bytes, tmp_path):
    """A session passed where a model is expected (and vice versa) is answered with
    INVALID_ARGUMENT (best effort per the header). Run in a subprocess: a crash must not take
    the test run down with it."""
    path = tmp_path / "m.swl"
    path.write_bytes(small_bytes)
    code = f"""
import ctypes, sys
sys.path.insert(0, {str(REPO / 'python')!r})
import swiftlet
from swiftlet import _capi
lib = _capi.lib()
m = swiftlet.Model({str(path)!r})
s = m.session()
out = ctypes.c_void_p()
r1 = lib.swl_session_create(s._handle, None, ctypes.byref(out))
r2 = lib.swl_session_io_count(m._handle, None, None)
r3 = lib.swl_session_run(m._handle, None, 0, None, 0, None)
print(r1, r2, r3)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"crashed: rc={proc.returncode} {proc.stderr[-2000:]}"
    assert proc.stdout.split() == ["1", "1", "1"], proc.stdout


# ---- the Python layer itself -------------------------------------------------------------------
def test_library_lookup_errors(tmp_path):
    """A wrong SWIFTLET_LIB is an error naming the path, not a silent fall-back; the pure-Python
    writer works without the library."""
    code = f"""
import sys
sys.path.insert(0, {str(REPO / 'python')!r})
import swiftlet, swiftlet.swl
try:
    swiftlet.version()
except OSError as e:
    print("OSError:", e)
"""
    env = {"SWIFTLET_LIB": str(tmp_path / "nope.so"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "OSError:" in proc.stdout and "nope.so" in proc.stdout and "SWIFTLET_LIB" in proc.stdout


class _CountingLib:
    def __init__(self, lib):
        self._lib, self.runs = lib, []

    def __getattr__(self, name):
        fn = getattr(self._lib, name)
        if name != "swl_session_run":
            return fn

        def counted(*args):
            status = fn(*args)
            self.runs.append(status)
            return status
        return counted


def test_dynamic_output_retry_is_cached(small_bytes, monkeypatch):
    """The first run of a new input shape may take a BUFFER_TOO_SMALL round trip; the next run of
    that shape must not."""
    counting = _CountingLib(_capi.lib())
    monkeypatch.setattr(_capi, "lib", lambda: counting)
    with swiftlet.Model.from_bytes(small_bytes) as m, m.session("cpu") as s:
        x = np.ones((6, 4), np.float32)
        s.run({"x": x})
        assert counting.runs[-1] == _capi.STATUS_OK
        assert len(counting.runs) <= 2
        counting.runs.clear()
        out = s.run({"x": x})
        assert counting.runs == [_capi.STATUS_OK]
        assert out["y"].shape == (6, 3)


def test_output_null_data(small_session):
    """Capacity 0 with no buffer asks for the shape (BUFFER_TOO_SMALL, shape written); a NULL
    buffer claiming capacity is an INVALID_ARGUMENT, never a write through NULL."""
    x = np.ones((2, 4), np.float32)
    out = _capi.Tensor(name=b"y", dtype=_capi.DTYPE_F32, rank=0, data=None, byte_size=0)
    status, outs = _run(small_session, [_tensor(b"x", x)], [out])
    assert status == _capi.STATUS_BUFFER_TOO_SMALL
    assert outs[0].rank == 2 and list(outs[0].shape[:2]) == [2, 3]
    out = _capi.Tensor(name=b"y", dtype=_capi.DTYPE_F32, rank=2, data=None, byte_size=1000)
    status, _ = _run(small_session, [_tensor(b"x", x)], [out])
    assert status == _capi.STATUS_INVALID_ARGUMENT
