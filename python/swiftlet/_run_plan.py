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

A call writes into the plan's own copy of the structs when no other call has it (a lock tried, not
waited for) and into fresh copies otherwise, and passes their addresses by the by-address
declaration of swl_session_run. Each step of Python a call takes costs more than its hot-loop time
suggests: after a model's run (or any 8 ms of other work) the interpreter's code and data are cold,
and a lone `array.ctypes.data` then took a median 58-64 µs, a pointer through the buffer protocol
33 µs (scratch measurements, twenty-second round of docs/BENCHMARKS.md). So the fast path takes
as few steps as it can.
"""
from __future__ import annotations

import ctypes
import threading
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import _capi


_BYTE = ctypes.c_char


def _address(array: np.ndarray) -> int:
    """The address of a C-contiguous array's first element: through the buffer protocol, about a
    third of array.ctypes.data's cost; ctypes refuses a read-only or empty array, whose address
    numpy then gives."""
    try:
        return ctypes.addressof(_BYTE.from_buffer(array))
    except (TypeError, ValueError, BufferError):
        return array.ctypes.data


class _Structs:
    """One copy of a plan's C structs: its swl_tensor arrays and report, each tensor's struct at
    hand for the data address a call writes, and the three addresses the library is passed."""
    __slots__ = ("inputs", "outputs", "report", "input_fields", "output_fields", "addresses")

    def __init__(self, plan: "RunPlan"):
        self.inputs = plan._in_type.from_buffer_copy(plan._in_bytes)
        self.outputs = plan._out_type.from_buffer_copy(plan._out_bytes)
        self.report = _capi.RunReport.from_buffer_copy(plan._report_bytes)
        # A ctypes array's elements are views of its memory: writing one's field writes the array.
        self.input_fields = tuple(self.inputs)
        self.output_fields = tuple(self.outputs)
        self.addresses = (ctypes.addressof(self.inputs), ctypes.addressof(self.outputs), ctypes.addressof(self.report))


class RunPlan:
    """The form of one successful run() call and the C structs it passed. Its fields do not change
    once built and its own copy of the structs serves one call at a time, so threads running the
    session at once may share it."""

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
        # The structs as bytes, copied for a call that finds the plan's own copy taken. The names
        # they point to are the session's own encoded names, which live as long as it does.
        self._in_type, self._in_bytes = type(in_tensors), bytes(in_tensors)
        self._out_type, self._out_bytes = type(out_tensors), bytes(out_tensors)
        self._report_bytes = bytes(_capi.RunReport(struct_size=ctypes.sizeof(_capi.RunReport)))
        self._own = _Structs(self)
        self._own_free = threading.Lock()

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
            arrays = tuple([inputs.get(key) for key in self.keys])
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
        """Runs swl_session_run on the plan's structs (or fresh copies while another call has
        them). Returns (status, results, C report); results maps output names to new arrays
        (empty unless STATUS_OK)."""
        own = self._own_free.acquire(False)
        structs = self._own if own else _Structs(self)
        clean = False
        try:
            for field, array in zip(structs.input_fields, arrays):
                field.data = _address(array)
            buffers = [np.empty(shape, dtype) for _, dtype, shape, _ in self.outputs]
            for field, buffer in zip(structs.output_fields, buffers):
                field.data = _address(buffer)
            inputs_at, outputs_at, report_at = structs.addresses
            status = _capi.lib().session_run_by_address(handle, inputs_at, len(arrays), outputs_at, len(buffers),
                                                        report_at)
            results: Dict[str, np.ndarray] = {}
            if status == _capi.STATUS_OK:
                for field, buffer, (name, _, _, dynamic) in zip(structs.output_fields, buffers, self.outputs):
                    if dynamic:
                        self._check_shape(field, buffer, name)
                    results[name] = buffer
                clean = True
            # The plan's own report is overwritten by the next call: the session keeps a copy.
            return status, results, _capi.RunReport.from_buffer_copy(structs.report) if own else structs.report
        finally:
            if own:
                if not clean:  # the library may have written other shapes: the next call needs the plan's
                    ctypes.memmove(structs.addresses[1], self._out_bytes, len(self._out_bytes))
                self._own_free.release()

    @staticmethod
    def _check_shape(t: _capi.Tensor, buffer: np.ndarray, name: str) -> None:
        """An output with a dynamic dim must come out as it did in the plan's call: the library
        works output shapes out from the input shapes alone, and those are the plan's."""
        shape = tuple(t.shape[:t.rank]) if 0 <= t.rank <= _capi.MAX_RANK else None
        if shape != buffer.shape:  # would be a library bug: it reported success
            raise RuntimeError(f"libswiftlet wrote output {name!r} with shape {shape} (rank {t.rank}) "
                               f"where the same input shapes gave {buffer.shape} before")
