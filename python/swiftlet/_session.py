"""Session: a model bound to a backend (swl_session); runs numpy arrays through it."""
from __future__ import annotations

import ctypes
import math
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _capi
from ._owned import OwnedHandle
from ._errors import check
from ._run_plan import RunPlan
from ._types import RunReport, TensorInfo, to_numpy_dtype, to_swl_dtype

Inputs = Union[Mapping[str, Any], Sequence[Any], np.ndarray]

_MAX_CACHED_SHAPES = 64
# The `outputs` argument types a RunPlan recognizes (_run_plan.py); with others (and inputs not in
# a dict with str keys, a list, a tuple or a lone ndarray) run() always takes the general path.
_PLAIN_OUTPUTS = (type(None), str, list, tuple)


class Session(OwnedHandle):
    """A model bound to a backend; made by Model.session().

        with model.session(backend="cpu") as s:
            outputs = s.run({"input": x})            # {"logits": array, ...}
            outputs, report = s.run({"input": x}, report=True)

    run() may be called from several threads at once on one session.
    """

    def __init__(self, handle: int, backend: Optional[str] = None):
        self._handle: Optional[int] = handle
        # Guards the handle, the run count and the caches. A plain lock: `with` on it costs less
        # than on a Condition, whose enter and exit are Python calls; close() waits on `_cond`,
        # which shares it, and runs notify it only while a close waits.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._active = 0                   # runs in flight (close waits for them)
        self._closing = False
        self.backend = backend
        # The latest run's C report, converted only when asked for (most callers never do).
        self._last_c_report: Optional[_capi.RunReport] = None
        # input shapes -> output shapes seen for them, to size dynamic outputs without a retry
        self._shape_cache: Dict[Any, Tuple[Tuple[int, ...], ...]] = {}
        # The C structs of a form of call made twice in a row, for the next calls in that form
        # (_run_plan.py); and the last general call's form, which a second such call is compared with.
        self._plan: Optional[RunPlan] = None
        self._last_form: Any = None
        try:
            lib = _capi.lib()
            n_in, n_out = ctypes.c_int32(), ctypes.c_int32()
            check(lib.swl_session_io_count(handle, ctypes.byref(n_in), ctypes.byref(n_out)),
                  "swl_session_io_count")
            self._inputs = [self._io_info(lib, 0, i) for i in range(n_in.value)]
            self._outputs = [self._io_info(lib, 1, i) for i in range(n_out.value)]
        except BaseException:
            self.close()
            raise
        self._input_index = {info.name: i for i, info in enumerate(self._inputs)}
        self._output_index = {info.name: i for i, info in enumerate(self._outputs)}
        self._input_names_c = [info.name.encode("utf-8") for info in self._inputs]
        # Per output, what every run passes the library: encoded name and swl_dtype.
        self._output_c = [(info.name.encode("utf-8"), to_swl_dtype(info.dtype)) for info in self._outputs]

    def _io_info(self, lib: ctypes.CDLL, is_output: int, index: int) -> TensorInfo:
        t = _capi.Tensor()
        check(lib.swl_session_io_info(self._handle, is_output, index, ctypes.byref(t)),
              "swl_session_io_info")
        if not 0 <= t.rank <= _capi.MAX_RANK:
            raise ValueError(f"libswiftlet reported rank {t.rank} for "
                             f"{'output' if is_output else 'input'} {index}")
        shape = tuple(None if d < 0 else int(d) for d in t.shape[:t.rank])
        name = t.name.decode("utf-8") if t.name is not None else ""
        return TensorInfo(name, to_numpy_dtype(t.dtype), shape)

    # ---- description -------------------------------------------------------------------------
    @property
    def inputs(self) -> List[TensorInfo]:
        """The graph inputs: TensorInfo(name, dtype, shape), None in shape for a dynamic dim."""
        return list(self._inputs)

    @property
    def outputs(self) -> List[TensorInfo]:
        """The graph outputs: TensorInfo(name, dtype, shape), None in shape for a dynamic dim."""
        return list(self._outputs)

    @property
    def last_report(self) -> Optional[RunReport]:
        """The RunReport of the most recent successful run() on this session (any thread)."""
        c_report = self._last_c_report
        return RunReport.from_c(c_report) if c_report is not None else None

    # ---- running -----------------------------------------------------------------------------
    def run(self, inputs: Inputs, outputs: Optional[Sequence[str]] = None, *,
            report: bool = False) -> Union[Dict[str, np.ndarray],
                                           Tuple[Dict[str, np.ndarray], RunReport]]:
        """Runs the model.

        inputs:  {name: array} or a list/tuple in graph-input order (a single array is accepted
                 for a one-input model). Arrays are converted to the graph input's dtype when
                 numpy's "same_kind" casting allows it (float64 -> float32 yes, float -> int64
                 no: TypeError) and made C-contiguous.
        outputs: names of the outputs wanted (default: all, in graph order).
        report:  if True, returns (outputs, RunReport) instead of outputs.

        From the third call in a row of one form (input names or positions, dtypes and shapes,
        the outputs asked for), with arrays needing no conversion, run() reuses the C structs made
        for that form and spends less than half the Python (_run_plan.py).

        Returns {output name: new numpy array}. Errors from the library raise SwiftletError
        (e.g. SWL_STATUS_INVALID_ARGUMENT for a wrong shape, SWL_STATUS_NOT_FOUND for an unknown
        input name).
        """
        plan = self._plan
        if plan is not None and type(outputs) in _PLAIN_OUTPUTS and plan.requested == RunPlan.requested_key(outputs):
            arrays = plan.arrays_for(inputs)
            if arrays is not None:
                handle = self._acquire()
                try:
                    status, results, c_report = plan.call(handle, arrays)
                except RuntimeError:  # an output shaped unlike the plan's: a library bug; drop the plan
                    self._plan = None
                    raise
                finally:
                    self._release()
                if status == _capi.STATUS_BUFFER_TOO_SMALL:
                    # Also against the plan's premise; the library ran nothing: the general path
                    # below sizes the outputs.
                    self._plan = None
                else:
                    check(status, "swl_session_run")
                    self._last_c_report = c_report
                    return (results, RunReport.from_c(c_report)) if report else results

        lib = _capi.lib()
        in_tensors, keep_alive, signature, plan_keys = self._prepare_inputs(inputs)
        given = [array for array, _ in keep_alive] if plan_keys is not None else None  # the caller's own arrays
        wanted = self._wanted_outputs(outputs)
        cache_key = (signature, tuple(wanted))

        with self._lock:
            cached = self._shape_cache.get(cache_key)
        shapes = cached or tuple(self._initial_shape(self._outputs[i]) for i in wanted)

        handle = self._acquire()
        try:
            for attempt in range(3):
                buffers, out_tensors, names = self._prepare_outputs(wanted, shapes)
                c_report = _capi.RunReport(struct_size=ctypes.sizeof(_capi.RunReport))
                status = lib.swl_session_run(handle, in_tensors, len(keep_alive),
                                             out_tensors, len(wanted), ctypes.byref(c_report))
                if status != _capi.STATUS_BUFFER_TOO_SMALL or attempt == 2:
                    check(status, "swl_session_run")
                    break
                # The library wrote the required shapes and ran nothing: allocate exactly those.
                shapes = tuple(self._shape_of(t) for t in out_tensors)
        finally:
            self._release()
            del keep_alive

        results: Dict[str, np.ndarray] = {}
        produced = []
        for i, (buffer, t) in enumerate(zip(buffers, out_tensors)):
            shape = self._shape_of(t)
            produced.append(shape)
            count = math.prod(shape)
            if count > buffer.size:   # would be a library bug: it reported success
                raise RuntimeError(f"libswiftlet wrote output {names[i]!r} with shape {shape}, "
                                   f"larger than its {buffer.size}-element buffer")
            results[self._outputs[wanted[i]].name] = buffer[:count].reshape(shape)
        # A plan costs about a third of a general call to build: only for a form that came twice
        # in a row, not for each of a caller's ever-changing shapes.
        plannable = given is not None and type(outputs) in _PLAIN_OUTPUTS
        form = (cache_key, RunPlan.requested_key(outputs), plan_keys) if plannable else None
        if form is not None and form == self._last_form and all(math.prod(shape) > 0 for shape in produced):
            self._plan = self._plan_for(type(inputs) is dict, plan_keys, given, in_tensors, form[1], wanted, produced)
        self._last_form = form
        with self._lock:
            if cached != tuple(produced) and not all(self._outputs[i].is_static for i in wanted):
                if len(self._shape_cache) >= _MAX_CACHED_SHAPES:
                    self._shape_cache.clear()
                self._shape_cache[cache_key] = tuple(produced)
            self._last_c_report = c_report
        return (results, RunReport.from_c(c_report)) if report else results

    def _prepare_inputs(self, inputs: Inputs):
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        # plan_keys: how a RunPlan finds each input (a dict's own str keys, else positions), or
        # None where this call cannot make a plan (_run_plan.py)
        if isinstance(inputs, Mapping):
            pairs = list(inputs.items())  # one look at the caller's dict, which items and keys share
            items = [(str(name), value, self._input_index.get(str(name))) for name, value in pairs]
            positional = False
            plan_keys = tuple(name for name, _ in pairs) \
                if type(inputs) is dict and all(type(name) is str for name, _ in pairs) else None
        elif isinstance(inputs, (list, tuple)):
            items = [(None, value, i if i < len(self._inputs) else None)
                     for i, value in enumerate(inputs)]
            positional = True
            plan_keys = tuple(range(len(items))) if type(inputs) in (list, tuple) else None
        else:
            raise TypeError("inputs must be a dict {name: array}, a list/tuple of arrays, or an "
                            f"array, not {type(inputs).__name__}")

        tensors = (_capi.Tensor * max(len(items), 1))()
        keep_alive = []
        signature = []
        for k, (name, value, index) in enumerate(items):
            label = name if name is not None else f"#{k}"
            if index is not None:
                label = self._inputs[index].name
            array = _convert_input(label, value,
                                   self._inputs[index].dtype if index is not None else None)
            if array is not value or index is None:  # a plan passes every input on as given
                plan_keys = None
            encoded = self._input_names_c[index] if index is not None else (
                name.encode("utf-8") if name is not None else None)
            if encoded is not None and b"\0" in encoded:
                raise ValueError(f"input name {name!r} contains a NUL character")
            # One constructor call fills the struct (much cheaper than field-by-field from Python).
            # numpy allocates even empty arrays, so data is never NULL.
            tensors[k] = _capi.Tensor(encoded, to_swl_dtype(array.dtype), array.ndim,
                                      _capi.Shape(*array.shape), array.ctypes.data, array.nbytes)
            keep_alive.append((array, encoded))
            signature.append((name if not positional else k, array.dtype.char, array.shape))
        return tensors, keep_alive, tuple(signature), plan_keys

    def _plan_for(self, keyed: bool, keys: Tuple[Any, ...], given: List[np.ndarray], in_tensors,
                  requested: Optional[Tuple[str, ...]], wanted: List[int], produced) -> RunPlan:
        """A RunPlan for calls in the form of this successful one, whose inputs were all passed on
        as given (the arrays `given`, found by `keys`, in the order of `in_tensors`)."""
        _, out_tensors, _ = self._prepare_outputs(wanted, produced)
        infos = [self._outputs[i] for i in wanted]
        return RunPlan(keyed, keys, given, in_tensors, requested, [info.name for info in infos],
                       [info.dtype for info in infos], produced, [not info.is_static for info in infos],
                       out_tensors)

    def _wanted_outputs(self, outputs: Optional[Sequence[str]]) -> List[int]:
        if outputs is None:
            return list(range(len(self._outputs)))
        if isinstance(outputs, str):
            outputs = [outputs]
        wanted = []
        for name in outputs:
            if name not in self._output_index:
                known = ", ".join(repr(o.name) for o in self._outputs)
                raise KeyError(f"the model has no output {name!r} (outputs: {known})")
            wanted.append(self._output_index[name])
        return wanted

    @staticmethod
    def _initial_shape(info: TensorInfo) -> Tuple[int, ...]:
        # Unknown dynamic dims start at 1 element; a BUFFER_TOO_SMALL answer then gives the shape.
        return tuple(1 if d is None else d for d in info.shape)

    def _prepare_outputs(self, wanted: List[int], shapes):
        tensors = (_capi.Tensor * max(len(wanted), 1))()
        buffers, names = [], []
        for k, (index, shape) in enumerate(zip(wanted, shapes)):
            encoded, dtype = self._output_c[index]
            buffer = np.empty(max(math.prod(shape), 1), dtype=self._outputs[index].dtype)
            tensors[k] = _capi.Tensor(encoded, dtype, len(shape), _capi.Shape(*shape),
                                      buffer.ctypes.data, buffer.nbytes)
            buffers.append(buffer)
            names.append(encoded)   # keeps the name bytes alive with the struct
        return buffers, tensors, names

    @staticmethod
    def _shape_of(t: _capi.Tensor) -> Tuple[int, ...]:
        if not 0 <= t.rank <= _capi.MAX_RANK:
            raise RuntimeError(f"libswiftlet wrote rank {t.rank} into an output")
        shape = tuple(int(d) for d in t.shape[:t.rank])
        if any(d < 0 for d in shape):
            raise RuntimeError(f"libswiftlet wrote a negative output shape {shape}")
        return shape

    # ---- lifetime ------------------------------------------------------------------------------
    def _acquire(self) -> int:
        with self._lock:
            if self._handle is None:
                raise ValueError("this swiftlet.Session is closed")
            self._active += 1
            return self._handle

    def _release(self) -> None:
        with self._lock:
            self._active -= 1
            if self._closing and self._active == 0:
                self._cond.notify_all()

    def close(self) -> None:
        """Frees the session, after waiting for runs in flight on other threads."""
        with self._lock:
            if self._handle is None:
                return
            self._closing = True
            while self._active:
                self._cond.wait()
            handle, self._handle = self._handle, None
        _capi.lib().swl_session_free(handle)

    def __repr__(self) -> str:
        ins = ", ".join(f"{i.name}{list(i.shape)}" for i in getattr(self, "_inputs", []))
        outs = ", ".join(f"{o.name}{list(o.shape)}" for o in getattr(self, "_outputs", []))
        state = " closed" if self.closed else ""
        return f"<swiftlet.Session backend={self.backend!r} ({ins}) -> ({outs}){state}>"


def _convert_input(label: str, value: Any, expected: Optional[np.dtype]) -> np.ndarray:
    # The common case, an array already in the right form, needs no conversion at all.
    if type(value) is np.ndarray and value.dtype == expected and value.flags.c_contiguous \
            and value.ndim <= _capi.MAX_RANK:
        return value
    array = np.asarray(value)
    if expected is not None:
        if array.dtype != expected and not np.can_cast(array.dtype, expected, "same_kind"):
            raise TypeError(f"input {label!r}: cannot convert {array.dtype} to the graph input's "
                            f"dtype {expected} (numpy 'same_kind' casting does not allow it)")
        # (not np.ascontiguousarray: it turns a 0-d array into a 1-d one)
        array = np.asarray(array, dtype=expected, order="C")
    else:
        array = np.asarray(array, order="C")
        if to_swl_dtype(array.dtype) is None:
            raise TypeError(f"input {label!r}: dtype {array.dtype} has no swl_dtype")
    if array.ndim > _capi.MAX_RANK:
        raise ValueError(f"input {label!r}: rank {array.ndim} exceeds SWL_MAX_RANK "
                         f"({_capi.MAX_RANK})")
    return array
