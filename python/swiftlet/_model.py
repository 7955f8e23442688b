"""Model: a loaded, validated .swl model (swl_model), from a file or from bytes."""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from typing import Any, Iterator, Mapping, Optional, Union

from . import _capi
from ._owned import OwnedHandle
from ._errors import check

OptionValue = Union[str, int, bool]


def _option_text(value: OptionValue) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(f"option values are str, int or bool, not {type(value).__name__}")


def _c_string(value: str, what: str) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL character")
    return data


@contextlib.contextmanager
def session_options(backend: Optional[str], threads: int, optimize: Optional[bool],
                    options: Optional[Mapping[str, OptionValue]]) -> Iterator[int]:
    """A swl_options handle with these settings (see Model.session), freed on exit."""
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int, not {type(threads).__name__}")
    if not -2**31 <= threads < 2**31:
        raise ValueError(f"threads={threads} does not fit in an int32")
    settings: list[tuple[str, str]] = []
    if optimize is not None:
        settings.append(("graph.optimize", _option_text(bool(optimize))))
    for key, value in (options or {}).items():
        settings.append((key, _option_text(value)))
    lib = _capi.lib()
    opts = ctypes.c_void_p()
    check(lib.swl_options_create(ctypes.byref(opts)), "swl_options_create")
    try:
        if backend is not None:
            check(lib.swl_options_set_backend(opts, _c_string(backend, "backend")),
                  "swl_options_set_backend")
        check(lib.swl_options_set_threads(opts, threads), "swl_options_set_threads")
        for key, value in settings:
            check(lib.swl_options_set(opts, _c_string(key, "option key"),
                                      _c_string(value, "option value")),
                  f"swl_options_set({key!r})")
        yield opts
    finally:
        lib.swl_options_free(opts)


class Model(OwnedHandle):
    """A loaded model. Immutable; may be shared between threads and sessions.

        with swiftlet.Model("models/digits_mlp.swl") as model:
            session = model.session(backend="cpu", threads=1)

    Errors (SwiftletError.status_name): SWL_STATUS_NOT_FOUND (no such file),
    SWL_STATUS_INVALID_MODEL (the file failed validation; the message names the part).
    """

    def __init__(self, path: Union[str, os.PathLike], *, _handle: Optional[int] = None):
        self._handle: Optional[int] = None
        self._lock = threading.Lock()
        if _handle is not None:          # from_bytes
            self.path = None
            self._handle = _handle
            return
        self.path = os.fspath(path)
        encoded = os.fsencode(self.path)
        if b"\0" in encoded:
            raise ValueError("model path contains a NUL character")
        handle = ctypes.c_void_p()
        lib = _capi.lib()
        check(lib.swl_model_load_file(encoded, ctypes.byref(handle)), "swl_model_load_file")
        self._handle = handle.value

    @classmethod
    def from_bytes(cls, data: Union[bytes, bytearray, memoryview]) -> "Model":
        """Loads a model from the bytes of a .swl file (copied by the library)."""
        data = bytes(data)
        handle = ctypes.c_void_p()
        lib = _capi.lib()
        check(lib.swl_model_load_memory(data if data else None, len(data), ctypes.byref(handle)),
              "swl_model_load_memory")
        return cls("", _handle=handle.value)

    # ---- sessions ----------------------------------------------------------------------------
    def session(self, backend: Optional[str] = "cpu", threads: int = 0, *,
                optimize: Optional[bool] = None,
                options: Optional[Mapping[str, OptionValue]] = None) -> "Session":
        """Binds the model to a backend and returns a Session.

        backend:  a name from swiftlet.backends() ("cpu", "reference", ...); None = library default.
        threads:  0 = one per core; a node's work is split over up to this many threads.
        optimize: graph optimization (BatchNormalization folding, ...); None = library default
                  (on). Same as options={"graph.optimize": "1" or "0"}.
        options:  raw swl_options_set key/value pairs, e.g. {"graph.optimize": "0"}; values may
                  be str, int or bool (True -> "1", False -> "0"). Applied after the above.

        Errors: SWL_STATUS_NOT_FOUND for an unknown backend or option key,
        SWL_STATUS_INVALID_ARGUMENT for negative threads or a bad option value.
        """
        from ._session import Session

        with self._lock:
            handle = self._require_open()
            with session_options(backend, threads, optimize, options) as opts:
                session = ctypes.c_void_p()
                check(_capi.lib().swl_session_create(handle, opts, ctypes.byref(session)),
                      "swl_session_create")
        return Session(session.value, backend=backend)

    # ---- lifetime ------------------------------------------------------------------------------
    def _require_open(self) -> int:
        if self._handle is None:
            raise ValueError("this swiftlet.Model is closed")
        return self._handle

    def close(self) -> None:
        """Frees the model. Sessions made from it keep working (they hold their own reference)."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            _capi.lib().swl_model_free(handle)

    def __repr__(self) -> str:
        where = repr(self.path) if self.path else "<bytes>"
        return f"<swiftlet.Model {where}{' closed' if self.closed else ''}>"
