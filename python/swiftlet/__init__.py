"""Swiftlet for Python: run `.swl` models through libswiftlet (ctypes), numpy in and out.

    import numpy as np, swiftlet
    with swiftlet.Model("models/digits_mlp.swl") as m, m.session(backend="cpu", threads=1) as s:
        logits = s.run({"input": np.load("data/digits_test_x.npy")})["logits"]

- `swiftlet.Model(path)` / `swiftlet.Model.from_bytes(data)` load and validate a model.
- `model.session(backend="cpu", threads=0, optimize=None, options=None)` binds it to a backend
  (`swiftlet.backends()` lists them); `options` takes raw `swl_options_set` keys, e.g.
  `{"graph.optimize": "0"}`.
- `session.inputs` / `session.outputs` describe the graph's tensors (`TensorInfo(name, dtype,
  shape)`, `None` for a dynamic dimension); `session.run({name: array})` returns
  `{output name: array}`; `session.run(..., report=True)` also returns a `RunReport`
  (`session.last_report` keeps the latest). `run` is safe to call from several threads at once.
- `swiftlet.ensemble([model, (model, "int8"), (model, "mxfp4")], combiner="empir")` runs members
  on the same inputs and combines their class scores (EMPIR, vote, mean of probabilities); its
  outputs add each member's own scores as `"<scores>/member<i>"`.
- Failures raise `SwiftletError` with `.status`, `.status_name` (e.g. "SWL_STATUS_NOT_FOUND")
  and the library's message; an input that cannot be converted to the graph's dtype raises
  TypeError; using a closed Model or Session raises ValueError.
- Models and sessions are freed by `close()`, by leaving a `with` block, or when garbage
  collected.

The library is found through the environment variable SWIFTLET_LIB (a path), then the repository's
`build/prefix/lib/libswiftlet.so.1`, then the system library path; it is loaded on first use, so
`import swiftlet` and the pure-Python writer `swiftlet.swl` work without it.
"""
from __future__ import annotations

from typing import Callable, List, Optional

from . import _capi
from ._capi import (STATUS_BACKEND_FAILURE, STATUS_BUFFER_TOO_SMALL, STATUS_INTERNAL,
                    STATUS_INVALID_ARGUMENT, STATUS_INVALID_MODEL, STATUS_NOT_FOUND, STATUS_OK,
                    STATUS_UNSUPPORTED)
from ._errors import SwiftletError
from ._ensemble import ensemble
from ._model import Model
from ._session import Session
from ._types import RunReport, TensorInfo

__all__ = [
    "Model", "Session", "ensemble", "TensorInfo", "RunReport", "SwiftletError",
    "version", "abi_version", "backends", "set_log_callback",
    "STATUS_OK", "STATUS_INVALID_ARGUMENT", "STATUS_NOT_FOUND", "STATUS_INVALID_MODEL",
    "STATUS_BUFFER_TOO_SMALL", "STATUS_UNSUPPORTED", "STATUS_BACKEND_FAILURE", "STATUS_INTERNAL",
]


def version() -> str:
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return _capi.lib().swl_version().decode("ascii")


def abi_version() -> int:
    """The library's SWL_ABI_VERSION (checked against this package's when it is loaded)."""
    return int(_capi.lib().swl_abi_version())


def backends() -> List[str]:
    """Names of the backends compiled into the library, e.g. ["cpu", "reference"]."""
    lib = _capi.lib()
    names = []
    for i in range(lib.swl_backend_count()):
        name = lib.swl_backend_name(i)
        if name is not None:
            names.append(name.decode("utf-8"))
    return names


_LEVELS = {"debug": _capi.LOG_LEVEL_DEBUG, "info": _capi.LOG_LEVEL_INFO,
           "warn": _capi.LOG_LEVEL_WARN, "warning": _capi.LOG_LEVEL_WARN,
           "error": _capi.LOG_LEVEL_ERROR}
_LEVEL_NAMES = {_capi.LOG_LEVEL_DEBUG: "debug", _capi.LOG_LEVEL_INFO: "info",
                _capi.LOG_LEVEL_WARN: "warn", _capi.LOG_LEVEL_ERROR: "error"}
_log_callback = None   # the ctypes trampoline must outlive its registration


def set_log_callback(fn: Optional[Callable[[str, str], None]], min_level: str = "warn") -> None:
    """Routes the library's log messages at `min_level` and above ("debug", "info", "warn",
    "error") to fn(level_name, message). fn=None restores the default (WARN and above to stderr).
    fn may be called from any thread; exceptions it raises are ignored."""
    global _log_callback
    try:
        level = _LEVELS[min_level.lower()]
    except KeyError:
        raise ValueError(f"min_level must be one of {sorted(set(_LEVELS))}") from None
    lib = _capi.lib()
    if fn is None:
        lib.swl_set_log_callback(_capi.LOG_FN(), None, level)
        _log_callback = None
        return

    def trampoline(lvl: int, message: Optional[bytes], _user: Optional[int]) -> None:
        try:
            fn(_LEVEL_NAMES.get(lvl, str(lvl)), (message or b"").decode("utf-8", "replace"))
        except Exception:
            pass

    callback = _capi.LOG_FN(trampoline)
    lib.swl_set_log_callback(callback, None, level)
    _log_callback = callback
