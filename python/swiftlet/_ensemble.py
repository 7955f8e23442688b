"""ensemble(): several models (or one model at several precisions) as one Session
(swl_session_create_ensemble)."""
from __future__ import annotations

import ctypes
from typing import Mapping, Optional, Sequence, Tuple, Union

from . import _capi
from ._errors import check
from ._model import Model, OptionValue, _c_string, session_options
from ._session import Session

Member = Union[Model, Tuple[Model, Optional[str]]]


def ensemble(members: Sequence[Member], combiner: str = "empir", backend: Optional[str] = "cpu",
             threads: int = 0, *, optimize: Optional[bool] = None,
             options: Optional[Mapping[str, OptionValue]] = None) -> Session:
    """An ensemble session: members run on the same inputs, their class scores combined.

        fp32 = swiftlet.Model("models/digits_mlp.swl")
        with swiftlet.ensemble([fp32, (fp32, "int8"), (fp32, "mxfp4")], "empir") as s:
            out = s.run({"input": x})
            out["logits"]            # combined: one-hot rows for empir/vote, probabilities for mean
            out["logits/member1"]    # member 1's own scores

    members:  Models, or (Model, encoding) pairs where encoding ("int8", "mxfp8-e4m3", ...,
              "mxfp4", "mxint8"; None or "fp32": as stored) re-encodes the model's linear layers
              in memory. members[0] is the reference: EMPIR's tie-breaker, source of the other
              outputs. 2 to 16 members with the same inputs and the same first output (F32 scores).
    combiner: "empir", "vote" or "mean" (include/swiftlet.h, swl_combiner, defines each).
    The rest as in Model.session; threads other than 1 runs the members at once, one thread each
    (members' sessions always have one thread).
    The report's member_wall_time_ms gives each member's time.
    """
    if combiner not in _capi.COMBINERS:
        raise ValueError(f"combiner must be one of {sorted(_capi.COMBINERS)}, not {combiner!r}")
    if not isinstance(members, Sequence) or isinstance(members, (str, bytes)):
        raise TypeError("members must be a sequence of Models or (Model, encoding) pairs")
    pairs = [member if isinstance(member, tuple) else (member, None) for member in members]
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or not isinstance(pair[0], Model):
            raise TypeError(f"members[{i}] must be a Model or a (Model, encoding) pair")
        if pair[1] is not None and not isinstance(pair[1], str):
            raise TypeError(f"members[{i}]'s encoding must be a str or None")
    array = (_capi.EnsembleMember * max(len(pairs), 1))()
    # Hold each model's lock so no member is closed while the library reads it; always in the
    # same order (by id), so two threads making ensembles of the same models cannot deadlock.
    locks = [m._lock for m in sorted({id(m): m for m, _ in pairs}.values(), key=id)]
    taken = []
    try:
        for lock in locks:
            lock.acquire()
            taken.append(lock)
        for i, (model, encoding) in enumerate(pairs):
            array[i] = _capi.EnsembleMember(model._require_open(),
                                            None if encoding is None else _c_string(encoding, "encoding"))
        with session_options(backend, threads, optimize, options) as opts:
            session = ctypes.c_void_p()
            check(_capi.lib().swl_session_create_ensemble(array, len(pairs), _capi.COMBINERS[combiner],
                                                          opts, ctypes.byref(session)),
                  "swl_session_create_ensemble")
    finally:
        for lock in reversed(taken):
            lock.release()
    return Session(session.value, backend=backend)
