"""Value types of the Python API: dtype mapping, TensorInfo (graph inputs/outputs), RunReport."""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional, Tuple

import numpy as np

from . import _capi

# swl_dtype <-> numpy
_SWL_TO_NUMPY = {
    _capi.DTYPE_F32: np.dtype(np.float32),
    _capi.DTYPE_F16: np.dtype(np.float16),
    _capi.DTYPE_I8: np.dtype(np.int8),
    _capi.DTYPE_I32: np.dtype(np.int32),
    _capi.DTYPE_I64: np.dtype(np.int64),
}
_NUMPY_TO_SWL = {v: k for k, v in _SWL_TO_NUMPY.items()}


def to_numpy_dtype(swl_dtype: int) -> np.dtype:
    try:
        return _SWL_TO_NUMPY[swl_dtype]
    except KeyError:
        raise ValueError(f"libswiftlet reported an unknown dtype value {swl_dtype}") from None


def to_swl_dtype(dtype: np.dtype) -> Optional[int]:
    """The swl_dtype of a numpy dtype (native byte order), or None if there is none."""
    found = _NUMPY_TO_SWL.get(dtype)  # the common case: a native dtype, one dict lookup
    if found is not None:
        return found
    dtype = np.dtype(dtype)
    if dtype.byteorder not in ("=", "|", "<"):
        return None
    return _NUMPY_TO_SWL.get(dtype.newbyteorder("="))


class TensorInfo(NamedTuple):
    """A graph input or output: name, numpy dtype, and shape with None for each dynamic dim."""
    name: str
    dtype: np.dtype
    shape: Tuple[Optional[int], ...]

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self.shape)


@dataclasses.dataclass(frozen=True)
class RunReport:
    """What one Session.run did (struct swl_run_report)."""
    variant_index: int
    wall_time_ms: float            # the whole run, inputs checked to outputs written
    flops: int                     # floating-point operations of the nodes that ran
    bytes_moved: int               # bytes read and written by the nodes' kernels
    sim_cycles: int                # simulated backends only, else 0
    sim_energy_mj: float           # simulated backends only, else 0
    peak_activation_bytes: int     # size of the activation arena this run's plan used
    node_count: int                # nodes executed (after graph optimization)
    fallback_node_count: int       # nodes the requested backend left to the cpu backend
    member_wall_time_ms: Tuple[float, ...] = ()   # ensembles: each member's run time, in order

    @classmethod
    def from_c(cls, r: _capi.RunReport) -> "RunReport":
        return cls(variant_index=r.variant_index, wall_time_ms=r.wall_time_ms, flops=r.flops,
                   bytes_moved=r.bytes_moved, sim_cycles=r.sim_cycles,
                   sim_energy_mj=r.sim_energy_mj,
                   peak_activation_bytes=r.peak_activation_bytes, node_count=r.node_count,
                   fallback_node_count=r.fallback_node_count,
                   member_wall_time_ms=tuple(r.member_wall_time_ms[:min(r.member_count,
                                                                        len(r.member_wall_time_ms))]))
