"""Session.run's fast path: a call in a form already seen reuses the C structs made for it.

The general path checks and converts every input, builds each swl_tensor field by field, and reads
every output's shape back: 64-74 µs of Python a call on the project's machine (the library call
stubbed out; bench/python_overhead.py), where the digits MLP at batch 1 takes 18 µs through a bare
ctypes call and onnxruntime's whole call 24-32 µs (docs/BENCHMARKS.md, twentieth measurement). A serving loop calls run() again and again
with arrays of the same names, dtypes and shapes. For such a call a RunPlan copies the structs
as bytes into fresh arrays and writes the new arrays' addresses into them: 25-29 µs.

A plan is built from the second of two successive general calls of one form (building one costs
about a third of a general call, which a caller whose shapes change every call should not pay),
and only from a call that succeeded with every input passed as it was (already of the
graph input's dtype, C-contiguous, a plain ndarray) and no empty output, so the fast path hands
the library exactly what the general path would have, and the library still checks all of it
(values included: a Gather index out of range is still an error). Output shapes follow from input
shapes, so the plan's buffers fit. Anything else — another shape or dtype, an array that needs
converting, other outputs asked for — goes the general way.
"""
from __future__ import annotations

import ctypes
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import _capi


class RunPlan:
    """The form of one successful run() call and the C structs it passed. Immutable once built, so
    threads running the session at once may share it."""

    def __init__(self, keyed: bool, keys: Tuple[Any, ...], arrays: Sequence[np.ndarray], in_tensors,
                 requested: Optional[Tuple[str, ...]], output_names: Sequence[str],
                 output_dtypes: Sequence[np.dtype], output_shapes: Sequence[Tuple[int, ...]],
                 dynamic: Sequence[bool], out_tensors):
        # How the inputs came: a dict (keys: its names, in its order) or a sequence (keys: positions).
        self.keyed = keyed
        self.keys = keys
        self.expected = tuple((a.dtype, a.shape) for a in arrays)
        self.requested = requested
        self.outputs = tuple(zip(output_names, output_dtypes, output_shapes, dynamic))
        # The structs as bytes: each call copies them into fresh arrays (calls may run at once). The
        # names they point to are the session's own encoded names, which live as long as it does.
        self._in_type, self._in_bytes = type(in_tensors), bytes(in_tensors)
        self._out_type, self._out_bytes = type(out_tensors), bytes(out_tensors)
        self._report_bytes = bytes(_capi.RunReport(struct_size=ctypes.sizeof(_capi.RunReport)))

    @staticmethod
    def requested_key(outputs: Optional[Sequence[str]]) -> Optional[Tuple[str, ...]]:
        """run()'s `outputs` argument as a plan compares it: None for all, else a tuple of names."""
        if outputs is None:
            return None
        return (outputs,) if isinstance(outputs, str) else tuple(outputs)

    def arrays_for(self, inputs: Any) -> Optional[Tuple[np.ndarray, ...]]:
        """The call's input arrays in plan order when the call has this plan's form, else None."""
        if self.keyed:
            if type(inputs) is not dict or len(inputs) != len(self.keys):
                return None
            arrays = tuple(inputs.get(key) for key in self.keys)
        elif type(inputs) is np.ndarray:
            arrays = (inputs,)
        elif type(inputs) in (list, tuple):
            arrays = tuple(inputs)
        else:
            return None
        if len(arrays) != len(self.expected):
            return None
        for array, (dtype, shape) in zip(arrays, self.expected):
            if type(array) is not np.ndarray or array.dtype != dtype or array.shape != shape \
                    or not array.flags.c_contiguous:
                return None
        return arrays

    def call(self, handle: int, arrays: Tuple[np.ndarray, ...]):
        """Runs swl_session_run on fresh copies of the plan's structs. Returns (status, results,
        C report); results maps output names to new arrays (empty unless STATUS_OK)."""
        in_tensors = self._in_type.from_buffer_copy(self._in_bytes)
        for k, array in enumerate(arrays):
            in_tensors[k].data = array.ctypes.data
        out_tensors = self._out_type.from_buffer_copy(self._out_bytes)
        buffers = []
        for k, (_, dtype, shape, _) in enumerate(self.outputs):
            buffer = np.empty(shape, dtype)
            out_tensors[k].data = buffer.ctypes.data
            buffers.append(buffer)
        report = _capi.RunReport.from_buffer_copy(self._report_bytes)
        status = _capi.lib().swl_session_run(handle, in_tensors, len(arrays), out_tensors,
                                             len(buffers), ctypes.byref(report))
        results: Dict[str, np.ndarray] = {}
        if status == _capi.STATUS_OK:
            for k, (name, _, _, dynamic) in enumerate(self.outputs):
                if dynamic:
                    self._check_shape(out_tensors[k], buffers[k], name)
                results[name] = buffers[k]
        return status, results, report

    @staticmethod
    def _check_shape(t: _capi.Tensor, buffer: np.ndarray, name: str) -> None:
        """An output with a dynamic dim must come out as it did in the plan's call: the library
        works output shapes out from the input shapes alone, and those are the plan's."""
        shape = tuple(t.shape[:t.rank]) if 0 <= t.rank <= _capi.MAX_RANK else None
        if shape != buffer.shape:  # would be a library bug: it reported success
            raise RuntimeError(f"libswiftlet wrote output {name!r} with shape {shape} (rank {t.rank}) "
                               f"where the same input shapes gave {buffer.shape} before")
