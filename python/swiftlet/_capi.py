"""Finding libswiftlet and declaring its C API (include/swiftlet.h) for ctypes.

The library is loaded lazily, on the first call to `lib()`, so that `import swiftlet` (and the
pure-Python `swiftlet.swl` writer) works on a machine without libswiftlet. Lookup order:

1. the environment variable SWIFTLET_LIB, a path to the library file;
2. `<repo>/build/prefix/lib/libswiftlet.so.1`, the private install `make stage` makes, found
   relative to this package (`<repo>/python/swiftlet/`);
3. `ctypes.util.find_library("swiftlet")`, i.e. the system's library path.

Every function of the header is declared here with its argtypes and restype; nothing else in the
package calls the library without going through these declarations. swl_session_run is declared a
second time, as `session_run_by_address`, for Session.run's fast path (_run_plan.py).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib
import threading

ABI_VERSION = 1          # SWL_ABI_VERSION of the header these declarations follow
MAX_RANK = 8             # SWL_MAX_RANK
MAX_ENSEMBLE_MEMBERS = 16  # SWL_MAX_ENSEMBLE_MEMBERS

# swl_status
STATUS_OK = 0
STATUS_INVALID_ARGUMENT = 1
STATUS_NOT_FOUND = 2
STATUS_INVALID_MODEL = 3
STATUS_BUFFER_TOO_SMALL = 4
STATUS_UNSUPPORTED = 5
STATUS_BACKEND_FAILURE = 6
STATUS_INTERNAL = 99

# swl_combiner
COMBINERS = {"mean": 1, "vote": 2, "empir": 3}

# swl_dtype
DTYPE_F32 = 1
DTYPE_F16 = 2
DTYPE_I8 = 3
DTYPE_I32 = 4
DTYPE_I64 = 5

# swl_log_level
LOG_LEVEL_DEBUG = 0
LOG_LEVEL_INFO = 1
LOG_LEVEL_WARN = 2
LOG_LEVEL_ERROR = 3


Shape = ctypes.c_int64 * MAX_RANK


class Tensor(ctypes.Structure):
    """struct swl_tensor: a non-owning view of caller memory."""
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),                      # swl_dtype (a C enum: int)
        ("rank", ctypes.c_int32),
        ("shape", Shape),
        ("data", ctypes.c_void_p),
        ("byte_size", ctypes.c_size_t),
    ]


class RunReport(ctypes.Structure):
    """struct swl_run_report; the caller sets struct_size = ctypes.sizeof(RunReport)."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("variant_index", ctypes.c_uint32),
        ("wall_time_ms", ctypes.c_double),
        ("flops", ctypes.c_uint64),
        ("bytes_moved", ctypes.c_uint64),
        ("sim_cycles", ctypes.c_uint64),
        ("sim_energy_mj", ctypes.c_double),
        ("peak_activation_bytes", ctypes.c_uint64),
        ("node_count", ctypes.c_uint32),
        ("fallback_node_count", ctypes.c_uint32),
        ("member_count", ctypes.c_uint32),
        ("member_wall_time_ms", ctypes.c_double * MAX_ENSEMBLE_MEMBERS),
    ]


class EnsembleMember(ctypes.Structure):
    """struct swl_ensemble_member."""
    _fields_ = [
        ("model", ctypes.c_void_p),
        ("encoding", ctypes.c_char_p),
    ]


# typedef void (*swl_log_fn)(swl_log_level level, const char* message, void* user_data);
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

_status = ctypes.c_int   # swl_status is a C enum
_P = ctypes.POINTER
_c_model_p = ctypes.c_void_p      # opaque handles travel as void*
_c_options_p = ctypes.c_void_p
_c_session_p = ctypes.c_void_p

# name: (restype, argtypes), in the header's order.
_DECLARATIONS = {
    "swl_version": (ctypes.c_char_p, []),
    "swl_abi_version": (ctypes.c_uint32, []),
    "swl_last_error": (ctypes.c_char_p, []),
    "swl_status_name": (ctypes.c_char_p, [_status]),
    "swl_set_log_callback": (None, [LOG_FN, ctypes.c_void_p, ctypes.c_int]),
    "swl_backend_count": (ctypes.c_int32, []),
    "swl_backend_name": (ctypes.c_char_p, [ctypes.c_int32]),
    "swl_model_load_file": (_status, [ctypes.c_char_p, _P(_c_model_p)]),
    "swl_model_load_memory": (_status, [ctypes.c_void_p, ctypes.c_size_t, _P(_c_model_p)]),
    "swl_model_free": (None, [_c_model_p]),
    "swl_options_create": (_status, [_P(_c_options_p)]),
    "swl_options_set_backend": (_status, [_c_options_p, ctypes.c_char_p]),
    "swl_options_set_threads": (_status, [_c_options_p, ctypes.c_int32]),
    "swl_options_set": (_status, [_c_options_p, ctypes.c_char_p, ctypes.c_char_p]),
    "swl_options_free": (None, [_c_options_p]),
    "swl_session_create": (_status, [_c_model_p, _c_options_p, _P(_c_session_p)]),
    "swl_session_create_ensemble": (_status, [_P(EnsembleMember), ctypes.c_size_t, ctypes.c_int,
                                              _c_options_p, _P(_c_session_p)]),
    "swl_session_io_count": (_status, [_c_session_p, _P(ctypes.c_int32), _P(ctypes.c_int32)]),
    "swl_session_io_info": (_status, [_c_session_p, ctypes.c_int32, ctypes.c_int32, _P(Tensor)]),
    "swl_session_run": (_status, [_c_session_p, _P(Tensor), ctypes.c_size_t,
                                  _P(Tensor), ctypes.c_size_t, _P(RunReport)]),
    "swl_session_free": (None, [_c_session_p]),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def _candidates() -> list[tuple[str, str]]:
    """(how it was found, path or name) in lookup order."""
    found = []
    env = os.environ.get("SWIFTLET_LIB")
    if env:
        found.append(("SWIFTLET_LIB", env))
    repo = pathlib.Path(__file__).resolve().parents[2]
    found.append(("the repository's build/prefix", str(repo / "build" / "prefix" / "lib" / "libswiftlet.so.1")))
    system = ctypes.util.find_library("swiftlet")
    found.append(("ctypes.util.find_library('swiftlet')", system or ""))
    return found


def _load() -> ctypes.CDLL:
    tried = []
    for how, path in _candidates():
        if not path:
            tried.append(f"{how}: nothing found")
            continue
        if how != "ctypes.util.find_library('swiftlet')" and not os.path.exists(path):
            tried.append(f"{how}: {path} (no such file)")
            if how == "SWIFTLET_LIB":
                # An explicit path that is wrong is an error, not a reason to pick another library.
                break
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{how}: {path} ({e})")
            if how == "SWIFTLET_LIB":
                break
            continue
        _declare(lib, path)
        return lib
    raise OSError("libswiftlet not found; tried, in order:\n  " + "\n  ".join(tried) +
                  "\nSet SWIFTLET_LIB to the path of libswiftlet.so.1, or run `make stage`.")


def _declare(lib: ctypes.CDLL, path: str) -> None:
    for name, (restype, argtypes) in _DECLARATIONS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise OSError(f"{path} does not export {name}: not a libswiftlet of ABI "
                          f"{ABI_VERSION}") from None
        fn.restype = restype
        fn.argtypes = argtypes
    # swl_session_run again with every pointer taken as an address: the fast path passes structs
    # it keeps, whose addresses it knows, and spares ctypes' check of each struct array's type on
    # every call (14 µs of 62 in the median call after 8 ms of other work has left the caches cold).
    by_address = lib["swl_session_run"]  # a function object of its own: the declared one is untouched
    by_address.restype = _status
    by_address.argtypes = [_c_session_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_void_p]
    lib.session_run_by_address = by_address
    abi = lib.swl_abi_version()
    if abi != ABI_VERSION:
        raise OSError(f"{path} has ABI version {abi}; this package needs {ABI_VERSION}")


def lib() -> ctypes.CDLL:
    """The loaded, declared library (loaded on first use; raises OSError if not found)."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                _lib = _load()
    return _lib


def last_error() -> str:
    """This thread's swl_last_error(), decoded."""
    raw = lib().swl_last_error()
    return raw.decode("utf-8", "replace") if raw is not None else ""


def status_name(status: int) -> str:
    raw = lib().swl_status_name(status)
    return raw.decode("ascii", "replace") if raw is not None else "SWL_STATUS_UNKNOWN"
